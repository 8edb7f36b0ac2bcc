// Migration between hosts, the public face of this folder: the agent protocol, the ssh transport, the
// source's connection to the agent and the destination it gives the driver, and the agent itself.
export * from './protocol.js';
export { agentCommand, agentSshArgs, isSshUri, parseSshUri, shellQuote, sshOptions, type SshTarget } from './ssh.js';
export { AgentChannel, type OpenChannelOptions } from './channel.js';
export { RemoteDestination } from './destination.js';
export { listenHostFromEnv, serveAgent, type AgentDriver, type AgentOptions } from './agent.js';
