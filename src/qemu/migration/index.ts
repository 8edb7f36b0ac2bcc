// Failover-aware live migration, the public face of this folder: phases and the timeline, the pre-checks,
// the destination, the run itself and its report.
export * from './migration.js';
