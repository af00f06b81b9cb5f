/**
 * The HTTP API: server, routes, error mapping, client and response types.
 *
 * @packageDocumentation
 */

export {
  type ApiTokenFile,
  type ApiTokenSources,
  BEARER_CHALLENGE,
  type BearerAuth,
  bearerAuth,
  checkApiToken,
  isLoopbackHost,
  isPublicRequest,
  readApiTokenFile,
  resolveApiToken,
} from './auth.js'
export { NsnApiClient, type NsnApiClientOptions } from './client.js'
export { type HttpError, toHttpError } from './errors.js'
export {
  parseLimit,
  ROUTES,
  type Route,
  type RouteContext,
  type RouteMethod,
  type RouteResult,
  toApiPeer,
} from './routes.js'
export { type ApiServer, type ApiServerOptions, startApiServer } from './server.js'
export type * from './types.js'
