// LAZYLLM_CHECK: passes silently, and on failure names file:line, the condition and the values.
#include "simd/check.h"

#include <gtest/gtest.h>

namespace lazyllm {
namespace {

int Evaluations(int* count) { return ++*count; }

TEST(CheckTest, PassingCheckEvaluatesItsConditionOnceAndStreamsNothing) {
  int count = 0, streamed = 0;
  LAZYLLM_CHECK(Evaluations(&count) == 1) << Evaluations(&streamed);
  EXPECT_EQ(count, 1);
  EXPECT_EQ(streamed, 0);  // the values of a passing check are not even computed
}

TEST(CheckTest, FailureNamesFileLineConditionAndValues) {
  const int row = -1, layer = 3;
  EXPECT_DEATH(LAZYLLM_CHECK(row >= 0) << "layer " << layer << " row " << row,
               "internal check failed at tests/simd/check_test.cc:[0-9]+: row >= 0 \\(layer 3 row -1\\)");
}

TEST(CheckTest, FailureWithoutValues) {
  EXPECT_DEATH(LAZYLLM_CHECK(1 + 1 == 3), "check_test.cc:[0-9]+: 1 \\+ 1 == 3\n");
}

TEST(CheckTest, IsOneStatementInsideIfElse) {
  int branch = 0;
  const bool flag = false;
  if (flag)
    LAZYLLM_CHECK(true) << "unused";
  else
    branch = 2;
  EXPECT_EQ(branch, 2);
}

}  // namespace
}  // namespace lazyllm
