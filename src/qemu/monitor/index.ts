// The QMP monitor, the public face of this folder: one client state machine (monitor.ts), typed errors,
// event streams, line framing and waiting for a monitor socket to appear.
export * from './monitor.js';
export { waitForSocket, type WaitForSocketOptions } from './socket.js';
