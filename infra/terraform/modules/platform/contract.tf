# The event fabric of docs/contract.md#2-event-fabric, mirrored from functions/taskpulse/contract.py
# (tests/infra/test_contract_sync.py fails when the two differ).
locals {
  # retention_ms literal so that tests/infra can read it without evaluating HCL.
  # max_message_bytes: far above the functions' 64 KiB limit, so an oversized event reaches
  # a function and is dead-lettered with its reason (Kafka's 1 MiB default refused it).
  topics = {
    "task-events"      = { partitions = 3, retention_ms = 604800000, max_message_bytes = 2097152 }  # 7 days
    "reminders"        = { partitions = 2, retention_ms = 86400000, max_message_bytes = 2097152 }   # 24 hours
    "task-updates"     = { partitions = 2, retention_ms = 3600000, max_message_bytes = 2097152 }    # 1 hour
    "task-events-dlq"  = { partitions = 1, retention_ms = 1209600000, max_message_bytes = 2097152 } # 14 days
    "reminders-dlq"    = { partitions = 1, retention_ms = 1209600000, max_message_bytes = 2097152 } # 14 days
    "task-updates-dlq" = { partitions = 1, retention_ms = 1209600000, max_message_bytes = 2097152 } # 14 days
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

  # Kafka access (contract.py "Kafka access": reads(), writes(), group_prefix(),
  # BACKEND_PRINCIPAL): what each principal may do on the brokers. kafka.tf turns it into
  # one Strimzi KafkaUser per principal with exactly these ACLs. group_prefix null: the
  # principal joins no consumer group.
  kafka_access = {
    "create-task" = {
      reads        = ["task-events"]
      writes       = ["task-events", "task-updates", "reminders", "task-events-dlq"]
      group_prefix = "create-task-"
    }
    "compute-next-occurrence" = {
      reads        = ["task-events"]
      writes       = ["task-events", "task-updates", "reminders", "task-events-dlq"]
      group_prefix = "compute-next-occurrence-"
    }
    "send-reminder" = {
      reads        = ["reminders", "task-updates"]
      writes       = ["task-updates", "reminders-dlq", "task-updates-dlq"]
      group_prefix = "send-reminder-"
    }
    "push-update" = {
      reads        = ["task-updates"]
      writes       = ["task-updates-dlq"]
      group_prefix = "push-update-"
    }
    "taskpulse-backend" = {
      reads        = []
      writes       = ["task-events"]
      group_prefix = null
    }
  }

  # The Dapr Subscriptions and Resiliency are not mirrored here: they are generated from
  # contract.py into charts/taskpulse-dapr/templates (python -m devstack.manifests generate).
}
