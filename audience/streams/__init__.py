"""Event streams (PutEventStream): Pinpoint's records of every stored event, shipped in batches to
Kinesis Data Streams, Kinesis Data Firehose or a signed webhook. `services` configures, marks and
ships; `records` is the record format; `destinations` the only code talking to the destinations."""
