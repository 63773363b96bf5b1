/** @plughost/sdk: types for plugin authors, signal helpers, and the protocol pieces the runner uses. */
export type {
  Alert, BacktestResults, BatchSignal, Candle, CandleBatch, CandleColumn, CandleHistory, FeaturePlugin, MaybePromise,
  PluginHooks, Position, PostRunOutput, RunConfig, Side, Signal, SignalResult, SignalType, StrategyContext, StrategyPlugin,
  Trade,
} from './types';
export { entry, exit, hold, type SignalOptions } from './signals';
export { ProtocolError, SignalError, type ProtocolErrorKind } from './errors';
export { SDK_NAME, SDK_VERSION, PROTOCOL_VERSION } from './version';
export { OrderBook, DEFAULT_RULES, type Rules, type SizeMode, type FillAt, type BookTrade, type Bar, type OrderSignal } from './orders';
