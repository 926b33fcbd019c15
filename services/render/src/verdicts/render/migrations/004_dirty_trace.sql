-- The traces that queued a page (W3C traceparent, at most 8): its render joins the first and links
-- them all, so a trace runs on from the event to the page published.
ALTER TABLE {schema}.dirty ADD COLUMN traceparents text[] NOT NULL DEFAULT '{}';
