/**
 * Fly's `[[vm]]` vocabulary: the size presets (`shared-cpu-1x`, `performance-2x`, …) and memory as
 * fly.toml writes it. Both follow flyctl, so a file means the same machine on Fly and on hangar.
 */

export interface VmPreset {
  cpuKind: 'shared' | 'performance';
  cpus: number;
  memoryMb: number;
  /** GPU presets: hangar cannot provide the GPU, so it warns and keeps only CPU and memory. */
  gpuKind?: string;
}

/** Fly's minimum memory per CPU, which its presets use. */
const SHARED_MB_PER_CPU = 256;
const PERFORMANCE_MB_PER_CPU = 2048;

function presets(): Record<string, VmPreset> {
  const out: Record<string, VmPreset> = {};
  for (const n of [1, 2, 4, 6, 8]) out[`shared-cpu-${n}x`] = { cpuKind: 'shared', cpus: n, memoryMb: n * SHARED_MB_PER_CPU };
  for (const n of [1, 2, 4, 6, 8, 10, 12, 14, 16]) out[`performance-${n}x`] = { cpuKind: 'performance', cpus: n, memoryMb: n * PERFORMANCE_MB_PER_CPU };
  const gpu = (gpuKind: string): VmPreset => ({ cpuKind: 'performance', cpus: 8, memoryMb: 16 * PERFORMANCE_MB_PER_CPU, gpuKind });
  out['a100-40gb'] = gpu('a100-pcie-40gb');
  out['a100-80gb'] = gpu('a100-sxm4-80gb');
  out['l40s'] = gpu('l40s');
  out['a10'] = gpu('a10');
  return out;
}

export const VM_PRESETS: Readonly<Record<string, VmPreset>> = presets();

const BINARY_UNIT: Record<string, number> = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40, p: 2 ** 50 };
const SIZE = /^(\d+(?:\.\d+)?) ?([kmgtp])?i?b?$/i;

/**
 * Megabytes from `memory`: an integer (or a string of digits) is already megabytes; otherwise a size
 * with a binary unit, as flyctl reads it: "1g", "1gb", "1GiB", "512mb", "1.5g". Undefined when the
 * value is not a size or comes to less than 1 MB.
 */
export function parseMemoryMb(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value > 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const s = value.trim();
  if (/^\d+$/.test(s)) return Number(s) > 0 ? Number(s) : undefined;
  const m = SIZE.exec(s);
  if (!m) return undefined;
  const bytes = Number(m[1]) * BINARY_UNIT[(m[2] ?? '').toLowerCase()]!;
  const mb = Math.floor(bytes / 2 ** 20);
  return mb >= 1 ? mb : undefined;
}
