# The event fabric of shared/contract.md section 2, mirrored from functions/taskpulse/contract.py
# (tests/infra/test_contract_sync.py fails when the two differ).
locals {
  # retention_ms literal so that tests/infra can read it without evaluating HCL.
  topics = {
    "task-events"      = { partitions = 3, retention_ms = 604800000 }  # 7 days
    "reminders"        = { partitions = 2, retention_ms = 86400000 }   # 24 hours
    "task-updates"     = { partitions = 2, retention_ms = 3600000 }    # 1 hour
    "task-events-dlq"  = { partitions = 1, retention_ms = 1209600000 } # 14 days
    "reminders-dlq"    = { partitions = 1, retention_ms = 1209600000 } # 14 days
    "task-updates-dlq" = { partitions = 1, retention_ms = 1209600000 } # 14 days
  }

  pubsub_name = "pubsub-kafka"

  # A pubsub.kafka component has ONE consumer group per daprd, so each function's group is
  # named after the first topic it consumes in the contract: <function>-<topic>-v1 (exact for
  # every function but send-reminder, whose group also holds its task-events offsets).
  consumer_group_topic = {
    "create-task"             = "task-events"
    "compute-next-occurrence" = "task-events"
    "send-reminder"           = "reminders"
    "push-update"             = "task-updates"
  }

  # The Dapr Subscriptions and Resiliency are not mirrored here: they are generated from
  # contract.py into charts/taskpulse-dapr/templates (python -m devstack.manifests generate).
}
