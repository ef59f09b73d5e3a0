// LAZYLLM_API marks what liblazyllm.so exports; everything else is built with hidden visibility.
#pragma once

#if defined(_WIN32)
#define LAZYLLM_API
#else
#define LAZYLLM_API __attribute__((visibility("default")))
#endif

// LAZYLLM_LOCAL keeps a member of an exported class (its opaque Impl, a private constructor)
// out of the library's exports.
#if defined(_WIN32)
#define LAZYLLM_LOCAL
#else
#define LAZYLLM_LOCAL __attribute__((visibility("hidden")))
#endif
