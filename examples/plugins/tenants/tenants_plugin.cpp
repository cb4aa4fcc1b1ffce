// The multi-tenant SaaS example's processors: meter a tenant's usage, price it by plan, and
// write a standard or a premium report (the flow routes on the tenant's feature flags).
#include <algorithm>
#include <am2z/sdk.hpp>
#include <cstdint>
#include <optional>
#include <string>

namespace sdk = am2z::sdk;
using nlohmann::json;

namespace {

sdk::Error invalid(const std::string& code, const std::string& message, json details = nullptr) {
  return sdk::Error{code, message, false, "validation", std::move(details)};
}

/// A non-negative integer field of a usage day, or nullopt.
std::optional<std::int64_t> count_of(const json& day, const char* key) {
  const auto it = day.find(key);
  if (it == day.end() || !it->is_number_integer() || it->get<std::int64_t>() < 0) return std::nullopt;
  return it->get<std::int64_t>();
}

/// Sums .usage (one entry per day: apiCalls, storageGb, seats) into .metering.
sdk::Status meter_usage(json& state, sdk::Context& ctx) {
  const json usage = state.value("usage", json::array());
  if (!usage.is_array() || usage.empty()) return invalid("NO_USAGE", "the tenant has no usage days");
  std::int64_t calls = 0, peak_seats = 0, peak_storage = 0;
  for (std::size_t i = 0; i < usage.size(); ++i) {
    const auto day_calls = count_of(usage[i], "apiCalls");
    const auto seats = count_of(usage[i], "seats");
    const auto storage = count_of(usage[i], "storageGb");
    if (!usage[i].is_object() || !day_calls || !seats || !storage) {
      return invalid("USAGE_INVALID", "usage[" + std::to_string(i) + "] needs apiCalls, seats and storageGb >= 0",
                     {{"index", i}});
    }
    calls += *day_calls;
    peak_seats = std::max(peak_seats, *seats);
    peak_storage = std::max(peak_storage, *storage);
  }
  state["metering"] = {
      {"days", usage.size()}, {"apiCalls", calls}, {"peakSeats", peak_seats}, {"peakStorageGb", peak_storage}};
  ctx.emit("tenant:metered", {{"tenant", state.value("/tenant/id"_json_pointer, "")}, {"apiCalls", calls}});
  return sdk::ok();
}

/// Prices .metering by the tenant's plan (`plans` in the flow: amounts in minor units) into .invoice.
class PricePlan final : public sdk::Processor {
 public:
  explicit PricePlan(const json& params) : plans_(params.value("plans", json::object())) {
    if (!plans_.is_object() || plans_.empty()) throw sdk::ParamError("plans", "must name at least one plan");
    for (const auto& [name, plan] : plans_.items()) {
      for (const char* key : {"baseMinor", "perSeatMinor", "includedCalls", "perThousandCallsMinor"}) {
        if (!plan.is_object() || !plan.contains(key) || !plan[key].is_number_integer() ||
            plan[key].get<std::int64_t>() < 0) {
          throw sdk::ParamError("plans." + name + "." + key, "must be an integer >= 0");
        }
      }
    }
  }

  sdk::Status process(json& state, sdk::Context&) const override {
    const std::string plan_name = state.value("/tenant/plan"_json_pointer, "");
    if (!plans_.contains(plan_name)) {
      return invalid("UNKNOWN_PLAN", "no plan '" + plan_name + "'", {{"plan", plan_name}});
    }
    if (!state.contains("metering")) return invalid("NOT_METERED", "meter the usage before pricing it");
    const json& plan = plans_[plan_name];
    const json& metering = state["metering"];
    const std::int64_t seats = metering["peakSeats"].get<std::int64_t>();
    const std::int64_t over =
        std::max<std::int64_t>(0, metering["apiCalls"].get<std::int64_t>() - plan["includedCalls"].get<std::int64_t>());
    const std::int64_t thousands = (over + 999) / 1000;
    json lines = json::array();
    auto add = [&lines](const char* item, std::int64_t quantity, std::int64_t unit) {
      lines.push_back({{"item", item}, {"quantity", quantity}, {"unitMinor", unit}, {"amountMinor", quantity * unit}});
      return quantity * unit;
    };
    std::int64_t total = add("base", 1, plan["baseMinor"].get<std::int64_t>());
    total += add("seats", seats, plan["perSeatMinor"].get<std::int64_t>());
    total += add("api-calls-over-plan (per 1000)", thousands, plan["perThousandCallsMinor"].get<std::int64_t>());
    state["invoice"] = {
        {"plan", plan_name}, {"currency", plan.value("currency", "EUR")}, {"lines", lines}, {"totalMinor", total}};
    return sdk::ok();
  }

 private:
  json plans_;
};

json report_head(const json& state, const char* kind) {
  return {{"kind", kind},
          {"tenant", state.value("/tenant/id"_json_pointer, "")},
          {"period", state.value("period", "")},
          {"apiCalls", state["metering"]["apiCalls"]},
          {"totalMinor", state["invoice"]["totalMinor"]},
          {"currency", state["invoice"]["currency"]}};
}

/// Totals only: what every plan gets.
sdk::Status standard_report(json& state, sdk::Context&) {
  if (!state.contains("invoice")) return invalid("NOT_PRICED", "price the usage before reporting it");
  state["report"] = report_head(state, "standard");
  return sdk::ok();
}

/// Totals, each day's share of the calls, the busiest day and a 30-day projection: for tenants
/// whose features.premiumReports is on.
sdk::Status premium_report(json& state, sdk::Context& ctx) {
  if (!state.contains("invoice")) return invalid("NOT_PRICED", "price the usage before reporting it");
  json report = report_head(state, "premium");
  const std::int64_t calls = state["metering"]["apiCalls"].get<std::int64_t>();
  json daily = json::array();
  std::int64_t busiest = -1;
  std::string busiest_day;
  for (const json& day : state["usage"]) {
    const std::int64_t n = day["apiCalls"].get<std::int64_t>();
    daily.push_back({{"day", day.value("day", "")},
                     {"apiCalls", n},
                     {"sharePercent", calls ? static_cast<double>((n * 10000 + calls / 2) / calls) / 100 : 0.0}});
    if (n > busiest) {
      busiest = n;
      busiest_day = day.value("day", "");
    }
  }
  const std::int64_t days = static_cast<std::int64_t>(daily.size());
  report["daily"] = daily;
  report["busiestDay"] = busiest_day;
  report["projected30DayCalls"] = calls * 30 / days;
  ctx.info("premium report for " + report["tenant"].get<std::string>());
  state["report"] = report;
  return sdk::ok();
}

const char* const kNoParams = R"({"type":"object","properties":{},"additionalProperties":false})";

}  // namespace

AM2Z_PLUGIN("tenants",
            sdk::processor("meter-usage", "Sums .usage (apiCalls, seats, storageGb per day) into .metering", kNoParams,
                           meter_usage),
            sdk::processor_class<PricePlan>(
                "price-plan", "Prices .metering by .tenant.plan into .invoice (amounts in minor units)",
                R"({"type":"object","required":["plans"],"additionalProperties":false,"properties":{"plans":{
                    "type":"object","description":"plan name -> {currency, baseMinor, perSeatMinor, includedCalls, perThousandCallsMinor}",
                    "additionalProperties":{"type":"object"}}}})"),
            sdk::processor("standard-report", "Totals of the period into .report", kNoParams, standard_report),
            sdk::processor("premium-report", "Totals, daily shares, busiest day and a projection into .report",
                           kNoParams, premium_report))
