"""The schema as numbered SQL files, applied in order by `receiver.kernel.store.migrate`."""
