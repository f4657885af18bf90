"""The polls: the worker that asks CometAPI for each task's state (official-format tasks
on a schedule, a callback's task at once), its transactions in receiver/lifecycle/transactions/."""
