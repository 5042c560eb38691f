"""The Batch API in the router (docs/batches.md): the Files and Batches services over
the tables it owns (files, batches, batch_lines), and the runner that sends each
batch's lines through the router's own routing, failover and providers."""
