---@meta
--- The load predictor: `local predict = require "opsh.predict"`. Forecasts the load (0..1: the
--- original's load factor of requests, latency, CPU, memory and errors) some seconds ahead, with
--- one ridge regression per horizon over recent changes, moving averages, window statistics,
--- time of day / day of week, and the load at the same time of day and of week as the target (the
--- seasonal lags, once the history reaches back that far). Each horizon's regression forecasts the
--- change from an anchor (the last value, or the load a day or a week before the target), and the
--- anchor, the penalty and whether the seasonal lags are inputs are chosen on a validation split
--- inside the training data. Samples go on a grid of `interval` seconds. Accuracy is measured only
--- on forecasts whose targets the model never trained on. Retrains on its own when MASE is above 1
--- over the last window, after `retrain_every` new samples, or when asked.
local predict = {}

---@class opsh.predict.options
---@field interval? number seconds between samples (5)
---@field horizons? number[] seconds ahead a model is trained for ({5, 25, 60, 300, 900, 3600})
---@field history? integer samples kept for training (138240: 8 days at 5 s)
---@field capacity? number requests per second that count as full load (50)
---@field latency_threshold_ms? number latency that counts as full load (500)
---@field retrain_every? integer retrain after this many new samples (5000)
---@field accuracy_window? integer scored forecasts in the live accuracy window (720)
---@field min_samples? integer samples before the first model (60)
---@field auto_train? boolean train inside observe when a trigger fires (true)

---@class opsh.predict.sample
---@field t? number Unix seconds (default: one interval after the last sample)
---@field requests? number per second
---@field latency_ms? number
---@field errors? number per second
---@field cpu? number 0..1
---@field memory? number 0..1

---@class opsh.predict.forecast
---@field load number 0..1, `horizon` seconds after the last sample
---@field confidence number 0..1: 1 - 2 x the recent held-out mean absolute error (0 untrained)
---@field trend "increasing"|"decreasing"|"stable"|"unknown"
---@field horizon number seconds, as asked
---@field steps integer horizon / interval
---@field recommendation string "scale up immediately", "prepare to scale up", "consider scaling up", "monitor", "consider scaling down", "maintain", "monitor closely" or "insufficient data"
---@field feature_importance table<string, number> each input group's share of the forecast ("level", "change_1", ..., "time_of_day", "day_of_week", "seasonal_day", "seasonal_week")
---@field trained boolean false for the bootstrap answer (mean of the last 5 loads)

---@class opsh.predict.accuracy
---@field horizon number seconds
---@field steps integer
---@field trained boolean
---@field source "live"|"holdout"|"none" live: the current model's forecasts scored as their targets came; holdout: at training, a model fitted without the recent part, scored on it
---@field mae? number
---@field mape? number
---@field mase? number below 1 beats "the load stays where it is"
---@field count integer forecasts scored
---@field model? string the model chosen at training, e.g. "ridge (λ 0.1) around the load a week before the target, with the seasonal lags" or "the last value alone"

---@class opsh.predict.training
---@field reason string
---@field samples integer
---@field duration number seconds
---@field accuracy opsh.predict.accuracy[]

---@class opsh.predict.predictor
local predictor = {}

--- Takes a sample in; a NaN, infinite or out-of-range field is an error naming it, an unknown
--- field is an error listing the fields. Returns the training it caused, if any.
---@param sample opsh.predict.sample
---@return opsh.predict.training|nil
function predictor:observe(sample) end

--- The forecast `horizon_seconds` ahead (a positive number up to the longest configured horizon).
---@param horizon_seconds number
---@return opsh.predict.forecast
function predictor:predict(horizon_seconds) end

--- Trains now, on every sample kept.
---@return opsh.predict.training
function predictor:train() end

--- MAE, MAPE and MASE per configured horizon, on held-out forecasts only.
---@return opsh.predict.accuracy[]
function predictor:accuracy() end

--- Saves the predictor (history, models) to a file atomically. Refused under --dry-run.
---@param path string
---@return true|nil ok, table? err
function predictor:save(path) end

--- A new predictor; an unknown option is an error naming it and the options that exist.
---@param opts? opsh.predict.options
---@return opsh.predict.predictor
function predict.new(opts) end

--- A predictor saved by `:save`; a corrupt or truncated file gives nil, err (err.code "corrupt_model").
---@param path string
---@return opsh.predict.predictor|nil predictor, table? err
function predict.load(path) end

return predict
