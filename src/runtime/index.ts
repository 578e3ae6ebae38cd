export type * from './addon.js';
export { Batch } from './batch.js';
export { addRpcServer, listDevices, resolveDevice, type DeviceSpec } from './devices.js';
export { Context, Logits, type DecodeOptions } from './context.js';
export { RuntimeError } from './errors.js';
export { Encoder, openEncoder, type EncoderOptions } from './encoder.js';
export { Model, openModel, physicalCores, type ContextOptions, type OpenModelOptions } from './model.js';
