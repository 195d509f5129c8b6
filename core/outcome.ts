/**
 * Bad data is a value, not an exception: validation returns `ok` or `reject`
 * and the caller decides (HTTP answers with the reason, Kafka dead-letters).
 * Exceptions are kept for broken infrastructure.
 */
export type RejectCode =
  | 'invalid_json'
  | 'not_an_object'
  | 'missing_field'
  | 'wrong_type'
  | 'invalid_value'
  | 'invalid_name'
  | 'timestamp_out_of_range'
  | 'too_many_features'
  // The API key the items came with may not write this model (api/access.ts).
  | 'model_not_allowed';

export type Outcome<T> = { ok: true; value: T } | { ok: false; code: RejectCode; reason: string };

export const ok = <T>(value: T): Outcome<T> => ({ ok: true, value });
export const reject = (code: RejectCode, reason: string): Outcome<never> => ({ ok: false, code, reason });
