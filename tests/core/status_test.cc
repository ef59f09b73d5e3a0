// Status prints as CODE: message; a StatusOr holding an error ends the process with that error
// when its value is taken, instead of throwing std::bad_variant_access.
#include "lazyllm/status.h"

#include <gtest/gtest.h>

#include <sstream>

#include "lazyllm/model.h"

namespace lazyllm {
namespace {

TEST(StatusTest, PrintsCodeAndMessage) {
  std::ostringstream os;
  os << OkStatus() << " | " << NotFoundError("model.gguf: cannot open") << " | " << ResourceExhaustedError("pool full");
  EXPECT_EQ(os.str(), "OK | NOT_FOUND: model.gguf: cannot open | RESOURCE_EXHAUSTED: pool full");
  EXPECT_EQ(DataLossError("x").ToString(), "DATA_LOSS: x");
  EXPECT_EQ(StatusCodeName(StatusCode::kOutOfRange), "OUT_OF_RANGE");
}

TEST(StatusDeathTest, ValueOfAnErrorAbortsWithTheMessage) {
  auto missing = Model::Load("/nonexistent/dir/model.gguf");
  ASSERT_FALSE(missing.ok());
  EXPECT_DEATH((void)missing.value(),
               "StatusOr that holds an error was accessed: NOT_FOUND: .*/nonexistent/dir/model.gguf");
  EXPECT_DEATH((void)missing->config(), "NOT_FOUND");
  EXPECT_DEATH((void)std::move(missing).value(), "NOT_FOUND");
}

}  // namespace
}  // namespace lazyllm
