// The library API: the domain model and errors; the qemu layer is exported as it lands.
export * from './util/errors.js';
export { parseXml, XmlWriter, type XmlElement } from './util/xml.js';
export * from './conf/index.js';
