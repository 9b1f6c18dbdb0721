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

  # One Dapr Subscription per (function, topic); each rule routes some event types to a path.
  subscriptions = {
    "create-task-task-events" = {
      function = "create-task", topic = "task-events"
      rules    = [{ types = ["dev.taskpulse.task.create.v1"], path = "/events/task-create" }]
    }
    "compute-next-occurrence-task-events" = {
      function = "compute-next-occurrence", topic = "task-events"
      rules = [
        { types = ["dev.taskpulse.task.completed.v1"], path = "/events/task-completed" },
        { types = ["dev.taskpulse.task.cancelled.v1"], path = "/events/task-cancelled" },
        { types = ["dev.taskpulse.task.created.v1"], path = "/events/task-created" },
      ]
    }
    "send-reminder-reminders" = {
      function = "send-reminder", topic = "reminders"
      rules    = [{ types = ["dev.taskpulse.reminder.scheduled.v1"], path = "/events/reminder-scheduled" }]
    }
    "send-reminder-task-events" = {
      function = "send-reminder", topic = "task-events"
      rules    = [{ types = ["dev.taskpulse.task.completed.v1", "dev.taskpulse.task.cancelled.v1"], path = "/events/task-closed" }]
    }
    "push-update-task-updates" = {
      function = "push-update", topic = "task-updates"
      rules = [{ types = [
        "dev.taskpulse.task.create.v1", "dev.taskpulse.task.created.v1",
        "dev.taskpulse.task.completed.v1", "dev.taskpulse.task.cancelled.v1",
        "dev.taskpulse.reminder.scheduled.v1", "dev.taskpulse.reminder.sent.v1",
        "dev.taskpulse.series.ended.v1",
      ], path = "/events/task-update" }]
    }
  }
}
