// MM2's topic ACL sync (`sync.topic.acls.enabled`, MirrorSourceConnector.syncTopicAcls): the source
// cluster's ACLs on topics this flow replicates are copied to their remote topics on the target,
// so the same principals can read the replicas after a failover, and nobody can write into them:
//   - only LITERAL topic bindings of topics the flow replicates (prefixed patterns would name
//     other topics on the target once renamed);
//   - only ALLOW (a DENY needs no copy: without an ALLOW nothing is granted);
//   - never WRITE (remote topics are written by the mirror alone);
//   - ALL becomes READ (MM2: "downgrade ALLOW ALL to ALLOW READ").
// Bindings are only added, never deleted on the target (as MM2): an ACL removed at the source stays
// on the replica until an operator removes it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "client/kafka.h"

namespace ferry::mirror {

/// The target bindings for `source_acls` given the flow's routes (source topic → remote topic).
/// Bindings of topics not in `remote_topic_of` are skipped. The result is sorted and unique.
std::vector<client::AclBinding> target_topic_acls(const std::vector<client::AclBinding>& source_acls,
                                                  const std::map<std::string, std::string>& remote_topic_of);

}  // namespace ferry::mirror
