import test from 'ava';
import { architectureOfModel, brandOfModel, compareVersions, cudaVersionForDriver } from '../../src/core/manifest/gpu-facts.js';

// --- compareVersions ---

const order = test.macro({
  exec(t, a: string, b: string, expected: -1 | 0 | 1) {
    t.is(compareVersions(a, b), expected);
    t.is(compareVersions(b, a), expected === 0 ? 0 : -expected, 'antisymmetric');
  },
  title: (_, a: string, b: string, expected: number) => `compareVersions("${a}", "${b}") is ${expected}`,
});
test(order, '550.54.15', '550.54.14', 1);
test(order, '550.54.15', '550.54.15', 0);
test(order, '12.4', '12.4.0', 0);
test(order, '13', '13.0', 0);
test(order, '580.159.04', '580.159.4', 0);
test(order, '580.159.04', '580.159.5', -1);
test(order, '9.0', '10.0', -1); // numeric, not string order
test(order, '12.10', '12.9', 1);
test(order, '470', '470.256.02', -1);

// --- cudaVersionForDriver: NVIDIA's CUDA release notes, table 3 (minimum Linux driver of each GA release) ---

const cuda = test.macro({
  exec(t, driver: string, expected: string) {
    t.is(cudaVersionForDriver(driver), expected);
  },
  title: (_, driver: string, expected: string) => `driver ${driver} supports CUDA ${expected || '(none known)'}`,
});
// Exactly each minimum, and one patch release below it (the previous CUDA).
const MINIMUMS: [string, string, string][] = [
  ['580.65.06', '13.0', '12.9'],
  ['575.51.03', '12.9', '12.8'],
  ['570.26', '12.8', '12.6'],
  ['560.28.03', '12.6', '12.5'],
  ['555.42.02', '12.5', '12.4'],
  ['550.54.14', '12.4', '12.3'],
  ['545.23.06', '12.3', '12.2'],
  ['535.54.03', '12.2', '12.1'],
  ['530.30.02', '12.1', '12.0'],
  ['525.60.13', '12.0', '11.8'],
  ['520.61.05', '11.8', '11.7'],
  ['515.43.04', '11.7', '11.6'],
  ['510.39.01', '11.6', '11.5'],
  ['495.29.05', '11.5', '11.4'],
  ['470.42.01', '11.4', '11.3'],
  ['465.19.01', '11.3', '11.2'],
  ['460.27.03', '11.2', '11.1'],
  ['455.23', '11.1', '11.0'],
  ['450.36.06', '11.0', '10.2'],
  ['440.33', '10.2', '10.1'],
  ['418.39', '10.1', '10.0'],
  ['410.48', '10.0', ''],
];
for (const [minimum, version, previous] of MINIMUMS) {
  test(cuda, minimum, version);
  const parts = minimum.split('.').map(Number);
  parts[parts.length - 1]! -= 1;
  test(cuda, parts.join('.'), previous);
}
// Drivers seen on real hosts (nvidia-smi's "CUDA Version").
test(cuda, '580.159.04', '13.0'); // test/fixtures/real-h200
test(cuda, '550.54.15', '12.4'); // the rhel-2gpu fixture
test(cuda, '570.86.15', '12.8');
test(cuda, '535.183.01', '12.2');
test(cuda, '470.256.02', '11.4');
test(cuda, '390.157', '');
test(cuda, '999.1', '13.0');

// --- brandOfModel: as NVIDIA_REQUIRE_* spells NVML's brand ---

const brand = test.macro({
  exec(t, model: string, expected: string) {
    t.is(brandOfModel(model), expected);
  },
  title: (_, model: string, expected: string) => `"${model}" is brand ${expected}`,
});
test(brand, 'NVIDIA H200', 'nvidia');
test(brand, 'NVIDIA H100 80GB HBM3', 'nvidia');
test(brand, 'NVIDIA A100-SXM4-80GB', 'nvidia');
test(brand, 'NVIDIA L40S', 'nvidia');
test(brand, 'Tesla V100-SXM2-16GB', 'tesla');
test(brand, 'Tesla T4', 'tesla');
test(brand, 'Tesla P100-PCIE-16GB', 'tesla');
test(brand, 'NVIDIA GeForce RTX 4090', 'geforce');
test(brand, 'GeForce GTX 1080 Ti', 'geforce');
test(brand, 'Quadro P4000', 'quadro');
test(brand, 'Quadro RTX 8000', 'quadrortx');
test(brand, 'NVIDIA TITAN V', 'titan');
test(brand, 'NVIDIA RTX A6000', 'nvidiartx');
test(brand, 'NVIDIA RTX 6000 Ada Generation', 'nvidiartx');
test(brand, 'NVIDIA RTX 4000 SFF Ada Generation', 'nvidiartx');
test(brand, 'NVIDIA RTX PRO 6000 Blackwell Server Edition', 'nvidiartx');
test(brand, 'NVS 510', 'nvs');
test(brand, 'GRID K520', 'grid');
test(brand, 'Graphics Device', 'nvidia');
test(brand, '', 'nvidia');

// --- architectureOfModel: CUDA compute capability ---

const arch = test.macro({
  exec(t, model: string, expected: string) {
    t.is(architectureOfModel(model), expected);
  },
  title: (_, model: string, expected: string) => `"${model}" has compute capability ${expected || '(unknown)'}`,
});
test(arch, 'NVIDIA H200', '9.0');
test(arch, 'NVIDIA H100 80GB HBM3', '9.0');
test(arch, 'NVIDIA H100 PCIe', '9.0');
test(arch, 'NVIDIA H800', '9.0');
test(arch, 'NVIDIA H20', '9.0');
test(arch, 'NVIDIA GH200 480GB', '9.0');
test(arch, 'NVIDIA B200', '10.0');
test(arch, 'NVIDIA GB200', '10.0');
test(arch, 'NVIDIA B300 SXM6 AC', '10.3');
test(arch, 'NVIDIA GeForce RTX 5090', '12.0');
test(arch, 'NVIDIA GeForce RTX 5090 Laptop GPU', '12.0');
test(arch, 'NVIDIA RTX PRO 6000 Blackwell Server Edition', '12.0');
test(arch, 'NVIDIA GeForce RTX 4090', '8.9');
test(arch, 'NVIDIA L4', '8.9');
test(arch, 'NVIDIA L40S', '8.9');
test(arch, 'NVIDIA RTX 6000 Ada Generation', '8.9');
test(arch, 'NVIDIA RTX 4000 SFF Ada Generation', '8.9');
test(arch, 'NVIDIA RTX 5000 Ada Generation', '8.9'); // not Blackwell: "RTX 5000" is not a GeForce RTX 50xx
test(arch, 'NVIDIA A100-SXM4-80GB', '8.0');
test(arch, 'NVIDIA A100 80GB PCIe', '8.0');
test(arch, 'NVIDIA A800-SXM4-80GB', '8.0');
test(arch, 'NVIDIA A30', '8.0');
test(arch, 'NVIDIA A10G', '8.6');
test(arch, 'NVIDIA A10', '8.6');
test(arch, 'NVIDIA A40', '8.6');
test(arch, 'NVIDIA A2', '8.6');
test(arch, 'NVIDIA RTX A6000', '8.6');
test(arch, 'NVIDIA RTX A5000', '8.6');
test(arch, 'NVIDIA GeForce RTX 3090', '8.6');
test(arch, 'Tesla V100-SXM2-16GB', '7.0');
test(arch, 'NVIDIA TITAN V', '7.0');
test(arch, 'Tesla T4', '7.5');
test(arch, 'NVIDIA GeForce RTX 2080 Ti', '7.5');
test(arch, 'GeForce RTX 2080 Ti', '7.5'); // older drivers: no "NVIDIA" prefix
test(arch, 'Quadro RTX 8000', '7.5');
test(arch, 'Quadro RTX 4000', '7.5'); // Turing, not Ada: "RTX 4000" is not a GeForce RTX 40xx
test(arch, 'Quadro RTX 5000', '7.5'); // Turing, not Blackwell
test(arch, 'NVIDIA TITAN RTX', '7.5');
test(arch, 'Tesla P100-PCIE-16GB', '6.0');
test(arch, 'Tesla P40', '6.1');
test(arch, 'Tesla P4', '6.1');
test(arch, 'NVIDIA GeForce GTX 1080 Ti', '6.1');
test(arch, 'Tesla K80', '');
test(arch, 'Graphics Device', '');
test(arch, '', '');
