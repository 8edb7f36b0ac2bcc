// Registers every typed device codec; imported once by domain.ts.
// Each device module calls registerDeviceCodec() at load.
