import { createHash } from 'node:crypto';

const HEX_PREFIX = /^[0-9a-f]{2}/;

/**
 * The compacted-index bucket of an id: its first two characters when they are lowercase hex (every trace id, and
 * request ids normalised from hex or UUIDs), else the first two hex of its SHA-256 — so verbatim request ids spread
 * over the 256 buckets too. Athena computes the same with
 * `CASE WHEN regexp_like(id, '^[0-9a-f]{2}') THEN substr(id, 1, 2) ELSE lower(substr(to_hex(sha256(to_utf8(id))), 1, 2)) END`.
 */
export function indexBucket(id: string): string {
  if (HEX_PREFIX.test(id)) return id.slice(0, 2);
  return createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 2);
}

/** The Trino/Athena SQL expression equal to `indexBucket(<expr>)`. */
export function indexBucketSql(expr: string): string {
  return `CASE WHEN regexp_like(${expr}, '^[0-9a-f]{2}') THEN substr(${expr}, 1, 2) ELSE lower(substr(to_hex(sha256(to_utf8(${expr}))), 1, 2)) END`;
}
