// The subcommand families of ferry-admin; main() concatenates them into one command table.
#pragma once

#include <vector>

#include "admin/cli.h"

namespace ferry::admin {

/// topics list | describe | create | delete — Metadata, CreateTopics, DeleteTopics.
std::vector<Command> topic_commands();

/// topics reassign --execute | --verify | --cancel | --list — AlterPartitionReassignments and
/// ListPartitionReassignments (KIP-455) on client/wire_client, kafka-reassign-partitions.sh's semantics.
std::vector<Command> reassign_commands();

/// cluster describe — DescribeCluster (KIP-700) on client/wire_client plus partition health from Metadata.
std::vector<Command> cluster_commands();

/// configs describe | alter — DescribeConfigs, AlterConfigs (read-modify-write, see configs.cc).
std::vector<Command> config_commands();

/// groups list | describe | delete — ListGroups, DescribeGroups, DeleteGroups.
std::vector<Command> group_commands();

/// groups offsets show | reset — OffsetFetch, ListOffsets, OffsetCommit via the Admin API.
std::vector<Command> group_offset_commands();

/// acls list | add | remove — DescribeAcls, CreateAcls, DeleteAcls with kafka-acls.sh's flags.
std::vector<Command> acl_commands();

/// users describe | set | delete — DescribeUserScramCredentials, AlterUserScramCredentials (KIP-554)
/// on client/wire_client.
std::vector<Command> user_commands();

/// audit verify FILE... — checks the hash chain of Ferry audit logs (no cluster needed).
std::vector<Command> audit_commands();

}  // namespace ferry::admin
