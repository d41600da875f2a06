"""Use cases over the store: recording, tenants and policy, incidents, the gate, the alert
and freshness processes, compliance and the reads. Each service takes what it needs."""
