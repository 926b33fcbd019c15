-- Head-to-head ballots now come through JetStream (votes.head_to_head.cast): the stream sequence of
-- the ballot kept orders a voter's ballots on a pair (the latest counts) and makes a redelivery a
-- no-op. A ranking records whether it was provisional; the event went out through the outbox.
ALTER TABLE {schema}.head_to_head ADD COLUMN seq bigint NOT NULL DEFAULT 0;
ALTER TABLE {schema}.rankings ADD COLUMN provisional boolean NOT NULL DEFAULT true;
