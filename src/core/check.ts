// A tiny shape checker: each check returns problems as dot-path lines ("gpus[2].minor: must be an integer").

export type Problems = string[];

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks a value against a type name; returns the problems found at `at`. */
export function expect(v: unknown, type: 'string' | 'integer' | 'boolean' | 'object' | 'array' | 'number', at: string): Problems {
  const ok =
    type === 'integer'
      ? Number.isInteger(v)
      : type === 'array'
        ? Array.isArray(v)
        : type === 'object'
          ? isObject(v)
          : type === 'number'
            ? typeof v === 'number' && Number.isFinite(v)
            : typeof v === type;
  return ok ? [] : [`${at}: must be ${type === 'integer' || type === 'array' || type === 'object' ? 'an' : 'a'} ${type}`];
}

/** Checks every element of an array with `each`; problems carry the element's index. */
export function expectArray(v: unknown, at: string, each: (item: unknown, at: string) => Problems): Problems {
  if (!Array.isArray(v)) return [`${at}: must be an array`];
  return v.flatMap((item, i) => each(item, `${at}[${i}]`));
}

/** Checks an array of strings. */
export function expectStrings(v: unknown, at: string): Problems {
  return expectArray(v, at, (item, p) => expect(item, 'string', p));
}

/** Checks optional fields: absent is fine, present must pass. */
export function optional(v: unknown, check: (v: unknown) => Problems): Problems {
  return v === undefined ? [] : check(v);
}
