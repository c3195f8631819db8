// Included first by every public header: the headers use C++20 (std::span,
// designated initializers, <=>), and a consumer built with an older standard
// would otherwise meet its first error deep inside them.
#pragma once

#if (defined(_MSVC_LANG) ? _MSVC_LANG : __cplusplus) < 202002L
#error "ectowatch needs C++20 or later: compile with -std=c++20 (CMake: link ectowatch::client, which requires it)"
#endif
