export {
  ServiceConfig,
  INDEX_NAME,
  DEFAULT_INSECURE_CIDRS,
  normalizeIndexName,
  validateIndexName,
  validateMirror,
  validateHostPort,
  loadMirrors,
  loadInsecureRegistries,
} from './service-config.js';
export type { HostLookup, IndexInfo, ServiceOptions, InsecureRegistries } from './service-config.js';
export { lookupEndpoints, DEFAULT_REGISTRY_HOST, DEFAULT_V2_REGISTRY } from './endpoints.js';
export type { APIEndpoint, EndpointOptions, EndpointPurpose } from './endpoints.js';
export { readDaemonConfig, parseDaemonConfig, serviceConfigFrom, DEFAULT_DAEMON_CONFIG_FILE } from './daemon-json.js';
export type { DaemonConfig, DaemonProxies, ServiceConfigSources } from './daemon-json.js';
export { RegistriesConf, matchPrefix, SYSTEM_REGISTRIES_CONF, SYSTEM_REGISTRIES_CONF_DIR, MAX_REGISTRIES_CONF_BYTES } from './registries-conf.js';
export type { RegistriesConfOptions, RegistryConf, RegistryEndpointConf, PullSource, PullFromMirror } from './registries-conf.js';
