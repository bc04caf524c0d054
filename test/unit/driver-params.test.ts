import test from 'ava';
import { maskDriverParams, paramsMaskPath, withParamsMask } from '../../src/core/manifest/driver-params.js';
import { buildManifest } from '../helpers/manifests.js';

test('ModifyDeviceFiles becomes 0 and every other line stays', (t) => {
  t.is(maskDriverParams('ResmanDebugLevel: 4294967295\nModifyDeviceFiles: 1\nDeviceFileMode: 438\nRmMsg: ""\n'), 'ResmanDebugLevel: 4294967295\nModifyDeviceFiles: 0\nDeviceFileMode: 438\nRmMsg: ""\n');
  t.is(maskDriverParams('ModifyDeviceFiles:1'), 'ModifyDeviceFiles: 0\n');
  t.is(maskDriverParams('ModifyDeviceFiles: 0\n'), 'ModifyDeviceFiles: 0\n');
});

test('a params text without the line gets it, so NVML in the container still reads 0', (t) => {
  t.is(maskDriverParams('EnableMSI: 1\n'), 'EnableMSI: 1\nModifyDeviceFiles: 0\n');
  t.is(maskDriverParams(''), 'ModifyDeviceFiles: 0\n');
});

test('the masked file lives beside the manifest, and only a driver with params names one', (t) => {
  t.is(paramsMaskPath('/run/oci-gpu/manifest.json'), '/run/oci-gpu/nvidia-params');
  t.is(withParamsMask(buildManifest(), '/srv/m/manifest.json').paramsMask, '/srv/m/nvidia-params');
  const none = buildManifest();
  t.is(withParamsMask({ ...none, driver: { ...none.driver!, maskedParams: '' } }, '/srv/m/manifest.json').paramsMask, null);
  t.is(withParamsMask(buildManifest({ driver: null }), '/srv/m/manifest.json').paramsMask, null);
});
