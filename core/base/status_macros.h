// Error propagation inside the library (not installed): return a failed Status to the caller.
//   LAZYLLM_RETURN_IF_ERROR(ReadConfig(file, &config));
//   LAZYLLM_ASSIGN_OR_RETURN(const gguf::TensorInfo* t, Find(name, cols, rows));
#pragma once

#include <utility>

#include "lazyllm/status.h"

#define LAZYLLM_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::lazyllm::Status lazyllm_status_ = (expr);        \
    if (!lazyllm_status_.ok()) return lazyllm_status_; \
  } while (0)

#define LAZYLLM_CONCAT_INNER(a, b) a##b
#define LAZYLLM_CONCAT(a, b) LAZYLLM_CONCAT_INNER(a, b)
#define LAZYLLM_ASSIGN_OR_RETURN(lhs, expr) \
  LAZYLLM_ASSIGN_OR_RETURN_IMPL(LAZYLLM_CONCAT(lazyllm_statusor_, __LINE__), lhs, expr)
#define LAZYLLM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
