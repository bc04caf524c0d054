// The part of Bun's `bun:ffi` that src/adapters/libc.ts uses (the project builds with Node's types only).
declare module 'bun:ffi' {
  export const FFIType: { readonly i32: 5; readonly u32: 6; readonly i64: 7; readonly u64: 8; readonly ptr: 12 };
  type Pointer = number & { readonly __pointer: unique symbol };
  export function ptr(view: ArrayBufferView): Pointer;
  export const read: { i32(pointer: Pointer, offset?: number): number };
  export function dlopen<S extends Record<string, { args: readonly number[]; returns: number }>>(
    library: string,
    symbols: S,
  ): { symbols: { [K in keyof S]: (...args: any[]) => any }; close(): void };
}
