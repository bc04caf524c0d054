// NVML through Bun's FFI: only what discovery needs to enumerate MIG devices (UUIDs and instance
// ids are not in /proc). Read-only calls; nothing here changes a GPU setting. Under Node (the
// in-process tests) there is no FFI: nvmlMigSource says so and discovery warns.
import { createRequire } from 'node:module';
import type { MigSource, NvmlMigDevice } from '../discover/mig.js';

const NVML_SUCCESS = 0;
const NVML_ERROR_NOT_FOUND = 6;
const BUFFER = 96; // NVML_DEVICE_UUID_V2_BUFFER_SIZE, NVML_DEVICE_NAME_V2_BUFFER_SIZE

interface Ffi {
  dlopen(path: string, symbols: Record<string, { args: string[]; returns: string }>): { symbols: Record<string, (...args: unknown[]) => number>; close(): void };
  ptr(view: ArrayBufferView): number;
  CString: new (ptr: number) => { toString(): string };
}

/** A MigSource that asks the NVML library at `libraryPath` (the driver's libnvidia-ml.so.<version>). */
export function nvmlMigSource(libraryPath: string): MigSource {
  return {
    list(pciBusIds: string[]): Map<string, NvmlMigDevice[]> {
      if (!process.versions['bun']) throw new Error('NVML is only reached from the compiled oci-gpu binary');
      const ffi = createRequire(import.meta.url)('bun:ffi') as Ffi;
      const p = 'ptr', u32 = 'u32', i32 = 'i32', cstr = 'cstring';
      let lib: ReturnType<Ffi['dlopen']>;
      try {
        lib = ffi.dlopen(libraryPath, {
          nvmlInit_v2: { args: [], returns: i32 },
          nvmlShutdown: { args: [], returns: i32 },
          nvmlErrorString: { args: [i32], returns: p },
          nvmlDeviceGetHandleByPciBusId_v2: { args: [cstr, p], returns: i32 },
          nvmlDeviceGetMaxMigDeviceCount: { args: [p, p], returns: i32 },
          nvmlDeviceGetMigDeviceHandleByIndex: { args: [p, u32, p], returns: i32 },
          nvmlDeviceGetUUID: { args: [p, p, u32], returns: i32 },
          nvmlDeviceGetName: { args: [p, p, u32], returns: i32 },
          nvmlDeviceGetGpuInstanceId: { args: [p, p], returns: i32 },
          nvmlDeviceGetComputeInstanceId: { args: [p, p], returns: i32 },
        });
      } catch (error) {
        throw new Error(`cannot load NVML from "${libraryPath}": ${(error as Error).message}`);
      }
      const nvml = lib.symbols;
      const check = (rc: number, call: string) => {
        if (rc === NVML_SUCCESS) return;
        const text = nvml.nvmlErrorString!(rc);
        throw new Error(`NVML ${call} failed: ${text ? new ffi.CString(text).toString() : `error ${rc}`}`);
      };
      const handle = new BigUint64Array(1);
      const num = new Uint32Array(1);
      const text = new Uint8Array(BUFFER);
      const readText = () => Buffer.from(text.subarray(0, Math.max(0, text.indexOf(0)))).toString('utf8');
      try {
        check(nvml.nvmlInit_v2!(), 'nvmlInit');
        try {
          const out = new Map<string, NvmlMigDevice[]>();
          for (const bus of pciBusIds) {
            check(nvml.nvmlDeviceGetHandleByPciBusId_v2!(Buffer.from(`${bus}\0`), ffi.ptr(handle)), `nvmlDeviceGetHandleByPciBusId(${bus})`);
            const gpu = Number(handle[0]);
            check(nvml.nvmlDeviceGetMaxMigDeviceCount!(gpu, ffi.ptr(num)), 'nvmlDeviceGetMaxMigDeviceCount');
            const devices: NvmlMigDevice[] = [];
            for (let i = 0, max = num[0]!; i < max; i++) {
              const rc = nvml.nvmlDeviceGetMigDeviceHandleByIndex!(gpu, i, ffi.ptr(handle));
              if (rc === NVML_ERROR_NOT_FOUND) continue;
              check(rc, 'nvmlDeviceGetMigDeviceHandleByIndex');
              const mig = Number(handle[0]);
              check(nvml.nvmlDeviceGetUUID!(mig, ffi.ptr(text), BUFFER), 'nvmlDeviceGetUUID');
              const uuid = readText();
              check(nvml.nvmlDeviceGetName!(mig, ffi.ptr(text), BUFFER), 'nvmlDeviceGetName');
              const name = readText();
              check(nvml.nvmlDeviceGetGpuInstanceId!(mig, ffi.ptr(num)), 'nvmlDeviceGetGpuInstanceId');
              const gpuInstance = num[0]!;
              check(nvml.nvmlDeviceGetComputeInstanceId!(mig, ffi.ptr(num)), 'nvmlDeviceGetComputeInstanceId');
              devices.push({ uuid, name, gpuInstance, computeInstance: num[0]! });
            }
            out.set(bus, devices);
          }
          return out;
        } finally {
          nvml.nvmlShutdown!();
        }
      } finally {
        lib.close();
      }
    },
  };
}
