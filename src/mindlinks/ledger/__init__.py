"""The verifiable ledger (the role Amazon QLDB had), in rooms:

- `models`: tables `ledger_entries`, `ledger_nodes`, `ledger_checkpoints` (append-only),
  and the queue `ledger_pending` with `ledger_sequenced` (pending id -> seq);
- `merkle`: RFC 9162 hashing, roots and proofs from complete-subtree hashes (pure);
- `service`: `append_entry` / `append_entries`, the one write path, and `seq_of`;
- `sequencer`: gives queued entries their seq (after the appending commit on
  PostgreSQL, inside it on SQLite), writes them and their tree nodes;
- `store`: the append path's statements on the driver connection;
- `repository`: head, roots, inclusion and consistency proofs, entry listing;
- `canonical`: the entry bytes (RFC 8785, integers only) written and re-checked;
- `integrity`: `verify_ledger`, the full re-derivation behind `mindlinks ledger verify`;
- `errors`: the typed errors;
- `verifier`, `note`, `keys`, `timestamp`: offline verification, C2SP signed notes,
  the ledger key, RFC 3161 time stamps.

Nothing is imported here, so `mindlinks.ledger.verifier` loads without the database
stack.
"""
