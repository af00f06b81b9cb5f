/**
 * @nsn/core: NSN's Kademlia DHT wiring on js-libp2p.
 *
 * - {@link nsnKadDHT}: the kad-dht service with NSN defaults (protocol `/nsn/kad/1.0.0`,
 *   k = 20, a 10 s deadline on every query, 12 h record TTL).
 * - {@link ShardRouting}: provide, find providers (also streamed, with a hot-shard
 *   provider cache), closest peers, find peer, bootstrap, refresh; every call bounded by
 *   the deadline and typed errors.
 * - {@link parseShardKey}: the one parser of shard hashes (64 hex or 32 bytes) and
 *   their CIDv1 (raw, sha2-256).
 * - {@link DhtObserver}: what core reports, for a metrics adapter.
 * - {@link ShardAnnouncements}: shard announcements over gossipsub, validated and put in
 *   the hot-shard provider cache (`announcements/`).
 *
 * @packageDocumentation
 */

export {
  type AnnounceFilterInit,
  type AnnounceScope,
  announceFilter,
  isPublicAddress,
  isRelayedAddress,
  parseAddressList,
  publicPeerInfoMapper,
} from './address-filter.js'
export {
  AnnouncementDecodeError,
  type AnnouncementDecodeFailure,
  type AnnouncementFields,
  decodeAnnouncement,
  encodeAnnouncement,
} from './announcements/codec.js'
export type { PublishedAnnouncement } from './announcements/publisher.js'
export type {
  AnnouncementPubSub,
  AnnouncementValidation,
  AnnouncementValidatorFn,
  PubSubMessage,
  TopicScoreParamsLike,
} from './announcements/pubsub.js'
export {
  ANNOUNCEMENT_SCORE_THRESHOLDS,
  announcementTopicScoreParams,
  INVALID_DECAY,
  INVALID_WEIGHT,
} from './announcements/scoring.js'
export {
  type AnnouncementTopicInfo,
  ShardAnnouncements,
  type ShardAnnouncementsComponents,
  type ShardAnnouncementsInit,
  type ShardAnnouncementsReporter,
  TooManyGroupsError,
} from './announcements/service.js'
export { announcementValidator } from './announcements/subscriber.js'
export {
  groupOfTopic,
  groupTopic,
  InvalidGroupNameError,
  isAnnouncementTopic,
  parseGroupName,
} from './announcements/topics.js'
export {
  ANNOUNCEMENT_REJECT_REASONS,
  type AnnouncementLimits,
  AnnouncementRateLimiter,
  type AnnouncementRejectReason,
  type AnnouncementVerdict,
  type ResolvedAnnouncementLimits,
  resolveAnnouncementLimits,
  type ValidAnnouncement,
  validateAnnouncement,
} from './announcements/validator.js'
export {
  type AnswerDrops,
  AnswerGuard,
  type AnswerGuardComponents,
  type AnswerGuardInit,
  type AnswerGuardReporter,
  largestAnswer,
  type ResolvedAnswerGuardOptions,
  resolveAnswerGuardOptions,
  type SanitisedAnswer,
  sanitiseAnswer,
} from './answer-guard.js'
export {
  AUTONAT_V1_PROTOCOL,
  AutoNATRecheck,
  type AutoNATRecheckComponents,
  type AutoNATVerifier,
} from './autonat-recheck.js'
export { BucketRefreshBackoff } from './bucket-refresh-backoff.js'
export {
  addProviderMessage,
  type ConfirmedRecordComponents,
  listsProvider,
  type RecordSend,
  sendConfirmedRecord,
} from './confirmed-provide.js'
export * from './constants.js'
export { type Deadline, startDeadline } from './deadline.js'
export * from './errors.js'
export {
  EvictionQuarantine,
  type EvictionQuarantineInit,
  type ResolvedEvictionQuarantineOptions,
  resolveEvictionQuarantineOptions,
} from './eviction-quarantine.js'
export {
  InboundGuard,
  type InboundGuardComponents,
  type InboundGuardInit,
  type InboundGuardReporter,
  InboundRateLimiter,
  largestAddProvider,
  type ResolvedInboundGuardOptions,
  resolveInboundGuardOptions,
  TokenBucket,
  type Verdict,
  validateInbound,
} from './inbound-guard.js'
export { ipGroupOf, ipGroupsOf, ipv4GroupOf, ipv6GroupOf } from './ip-groups.js'
export {
  type NsnKadDHTInit,
  nsnKadDHT,
  type ResolvedKadDHTOptions,
  resolveKadDHTOptions,
} from './kad-dht-service.js'
export {
  decodeProviderRecordTime,
  hooksOf,
  type KadHooks,
  type KadRoutingTable,
  type KadTableAccess,
  parseProviderRecordKey,
  providerRecordKey,
  routingTableOf,
} from './kad-internals.js'
export {
  decodeKadMessage,
  encodeKadMessage,
  frame,
  type KadMessage,
  type KadPeerInfo,
  UnknownMessageTypeError,
} from './kad-message.js'
export { type Candidate, type CandidateState, LookupCandidates } from './lookup/candidates.js'
export {
  type LookupComponents,
  type LookupInit,
  Lookups,
  type ResolvedLookupOptions,
  resolveLookupOptions,
} from './lookup/lookup.js'
export { IntervalGate, LruMap } from './lru-map.js'
export { NetworkSizeEstimator, type NetworkSizeOptions, normalisedDistance } from './network-size.js'
export * from './observer.js'
export {
  AnswerTally,
  type OperationContext,
  type RunOperationOptions,
  runOperation,
  runOperationStream,
} from './operation.js'
export {
  BackgroundSends,
  type OptimisticProvideOptions,
  type OptimisticWalkComponents,
  type OptimisticWalkInit,
  type OptimisticWalkResult,
  optimisticWalk,
} from './optimistic-provide.js'
export { OwnedMemoryDatastore, ownedBytes } from './owned-memory-datastore.js'
export {
  PacedRandomWalk,
  type PacedRandomWalkComponents,
  type PacedRandomWalkInit,
} from './paced-random-walk.js'
export { compareDistance, dhtKeyOf, kadId, parsePeerId, uniqueAddrs, xorHex } from './peer-addresses.js'
export * from './provided-shards.js'
export {
  type CachedProvider,
  copyProviderForCache,
  PROVIDER_CACHE_EVICTION_REASONS,
  ProviderCache,
  type ProviderCacheEvictionReason,
  type ProviderCacheInit,
  type ProviderCacheOptions,
  type ProviderCacheReporter,
  providerEntryBytes,
  type ResolvedProviderCacheOptions,
  resolveProviderCacheOptions,
} from './provider-cache.js'
export {
  type ProviderAddOptions,
  type ProviderAdmission,
  type ProviderRefusal,
  type ProviderStoreInit,
  type ResolvedProviderStoreOptions,
  resolveProviderStoreOptions,
} from './provider-limits.js'
export type { StoredProviderRecord } from './provider-store.js'
export {
  bucketPeers,
  type RefresherComponents,
  type RefresherOptions,
  type RefreshResult,
  RefreshSchedule,
  type RefreshScheduleComponents,
  refreshRoutingTable,
} from './refresher.js'
export { type RepublishTiming, republishTiming } from './republish-timing.js'
export { type PublishFn, Republisher, type RepublisherOptions, type RepublishRun } from './republisher.js'
export {
  RequestTimeoutError,
  RequestTimeouts,
  type RequestTimeoutsInit,
  type RequestTimeoutsReporter,
  type ResolvedRequestTimeoutsOptions,
  ResponseTimes,
  resolveRequestTimeoutsOptions,
} from './request-timeouts.js'
export {
  type BootstrapResult,
  type ClosestPeer,
  type FindProvidersOptions,
  type FindProvidersResult,
  type FindProvidersSummary,
  type OperationOptions,
  type ProvideAnnouncer,
  type ProvideManyOptions,
  type ProvideManyResult,
  type ProvideManyShardResult,
  type ProvideOptions,
  type ProvideResult,
  type ProviderCacheStats,
  type Publication,
  type ShardPeer,
  ShardRouting,
  type ShardRoutingComponents,
  type ShardRoutingInit,
  type ShardRoutingLibp2p,
  shardRoutingComponents,
} from './routing.js'
export {
  RoutingAdmission,
  type RoutingAdmissionComponents,
  type RoutingAdmissionInit,
  type RoutingAdmissionReporter,
} from './routing-admission.js'
export {
  commonPrefixLength,
  type DiversityRefusal,
  LookupDiversity,
  LookupGroups,
  type Placement,
  type ResolvedRoutingDiversityOptions,
  RoutingDiversity,
  type RoutingDiversityInit,
  resolveRoutingDiversityOptions,
} from './routing-diversity.js'
export * from './shard-key.js'
export {
  DhtStreamPool,
  type ResolvedStreamPoolOptions,
  resolveStreamPoolOptions,
  type StreamLease,
  type StreamPoolInit,
} from './stream-pool.js'
export {
  type ResolvedStreamSlotsOptions,
  resolveStreamSlotsOptions,
  StreamSlot,
  StreamSlots,
  type StreamSlotsInit,
} from './stream-slots.js'
export {
  addProviderFrames,
  type BatchSend,
  type BatchSendComponents,
  type BatchSendOptions,
  sendRecordBatch,
} from './sweep/batch-send.js'
export {
  bitAt,
  bitsOf,
  closestTo,
  commonPrefixBits,
  compareXor,
  estimatePrefixLength,
  hasPrefix,
  kadKeyOf,
  prefixBytes,
  type Region,
  regionPhase,
  regionsFromPeers,
} from './sweep/keyspace.js'
export {
  allocate,
  type Exploration,
  type ExploredPeer,
  type ExploreFn,
  exploreRegion,
  type PlaceableShard,
  type SweepRegionOptions,
} from './sweep/region-pass.js'
export { shardSourceOf } from './sweep/registry-source.js'
export { dueRegions, lastDone, lastTurn, nextEvent, nextTurn, type ScheduleParams } from './sweep/schedule.js'
export {
  type PendingRegion,
  type RegionHistory,
  type SweepState,
  SweepStateStore,
} from './sweep/state-store.js'
export {
  median,
  multihashOf,
  type RegionPassResult,
  type ShardPlacement,
  Sweeper,
  type SweeperComponents,
  type SweepInit,
  type SweepProgress,
  type SweepShard,
  type SweepShardSource,
  type SweepSummary,
} from './sweep/sweeper.js'
