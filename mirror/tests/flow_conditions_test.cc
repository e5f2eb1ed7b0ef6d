// A flow's error record (flow_conditions.h): what /status shows as last_error, current_errors
// and healthy, and what ferry_mirror_errors_total counts.
#include "mirror/flow_conditions.h"

#include <gtest/gtest.h>

namespace ferry::mirror {
namespace {

TEST(FlowConditions, AConditionLastsUntilItsPathWorksAgain) {
  metrics::Registry registry;
  FlowConditions c("east->west", "east", "west", registry);
  EXPECT_FALSE(c.view().last_error.has_value());
  c.set("target", "cannot read west to resume: timed out");
  c.set("refused:east.t-0", "east.t-0: west refuses source offset 7");
  EXPECT_TRUE(c.has("target"));
  auto v = c.view();
  EXPECT_EQ(v.current, (std::vector<std::string>{"east.t-0: west refuses source offset 7",
                                                 "cannot read west to resume: timed out"}));
  EXPECT_EQ(*v.last_error, "east.t-0: west refuses source offset 7");
  EXPECT_GT(v.last_error_ms, 0);
  c.clear("target");
  c.clear("target");  // already clear: nothing
  EXPECT_FALSE(c.has("target"));
  EXPECT_EQ(c.view().current.size(), 1u);
  // Each condition is counted under its kind, the key's part before ':'.
  const auto count = [&](const char* kind) {
    return registry.counter(FlowConditions::kErrorsMetric, FlowConditions::kErrorsHelp, {{"source", "east"}, {"target", "west"}, {"kind", kind}}).value();
  };
  EXPECT_EQ(count("target"), 1);
  EXPECT_EQ(count("refused"), 1);
}

TEST(FlowConditions, AOneOffErrorIsHistoryNotACondition) {
  metrics::Registry registry;
  FlowConditions c("east->west", "east", "west", registry);
  c.note_error("records deleted on the source before they were replicated");
  auto v = c.view();
  EXPECT_TRUE(v.current.empty());  // healthy
  EXPECT_EQ(*v.last_error, "records deleted on the source before they were replicated");
  EXPECT_EQ(registry.counter(FlowConditions::kErrorsMetric, FlowConditions::kErrorsHelp, {{"source", "east"}, {"target", "west"}, {"kind", "event"}})
                .value(),
            1);
}

}  // namespace
}  // namespace ferry::mirror
