export const SDK_NAME = 'plughost-sdk-typescript';
export const SDK_VERSION = '0.1.0';
/** The protocol versions this SDK speaks, highest last. */
export const PROTOCOL_VERSIONS = [3] as const;
export const PROTOCOL_VERSION = 3;
export const MAGIC_COOKIE = 'plughost-plugin-v1';
