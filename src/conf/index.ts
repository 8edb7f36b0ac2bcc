export * from './domain.js';
export * from './devices.js';
export * from './device-info.js';
export * from './address.js';
export * from './teaming.js';
export * from './memory.js';
export * from './validate.js';
