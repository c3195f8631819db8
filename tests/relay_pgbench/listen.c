/* A LISTEN client in plain libpq for tests/relay_pgbench/run.py: counts the
 * notifications of the channels it is given; on every line read from stdin it
 * prints the count so far. Usage: listen CONNINFO CHANNEL... */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <unistd.h>
int main(int argc, char **argv) {
  PGconn *c = PQconnectdb(argv[1]);
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "%s", PQerrorMessage(c));
    return 1;
  }
  for (int i = 2; i < argc; ++i) {
    char q[200];
    snprintf(q, sizeof q, "LISTEN %s", argv[i]);
    PQclear(PQexec(c, q));
  }
  printf("ready\n");
  fflush(stdout);
  long count = 0;
  for (;;) {
    fd_set fds;
    FD_ZERO(&fds);
    int s = PQsocket(c);
    FD_SET(s, &fds);
    FD_SET(0, &fds);
    select(s + 1, &fds, NULL, NULL, NULL);
    PQconsumeInput(c);
    PGnotify *n;
    while ((n = PQnotifies(c))) {
      ++count;
      PQfreemem(n);
    }
    if (FD_ISSET(0, &fds)) {
      char line[100];
      if (!fgets(line, sizeof line, stdin))
        break;
      printf("%ld\n", count);
      fflush(stdout);
    }
  }
  return 0;
}
