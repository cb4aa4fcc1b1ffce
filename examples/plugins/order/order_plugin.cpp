// The seed's order-processing processors (validate, charge, reserve) as an am2z C++ plugin.
#include <am2z/sdk.hpp>
#include <cmath>
#include <string>

namespace sdk = am2z::sdk;
using nlohmann::json;

namespace {

/// Needs lines, each with a positive quantity and price; sets .total and .status = validated.
sdk::Status validate_order(json& state, sdk::Context& ctx) {
  const json lines = state.value("lines", json::array());
  if (!lines.is_array() || lines.empty()) {
    return sdk::Error{"INVALID_ORDER", "order has no lines", false, "validation", nullptr};
  }
  double total = 0;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const json& line = lines[i];
    const double quantity = line.value("quantity", 0.0);
    const double price = line.value("price", 0.0);
    if (quantity <= 0 || price <= 0) {
      return sdk::Error{
          "INVALID_ORDER",
          "line " + std::to_string(i) + " (" + line.value("sku", "?") + ") needs a positive quantity and price",
          false,
          "validation",
          {{"line", i}}};
    }
    total += quantity * price;
  }
  state["total"] = std::round(total * 100) / 100;
  state["status"] = "validated";
  ctx.info("validated order " + state.value("orderId", "?"));
  return sdk::ok();
}

/// Charges the total; a card ending in `decline_suffix` (default 0000) is declined: a business
/// outcome recorded in .payment, not a failure.
class ChargePayment final : public sdk::Processor {
 public:
  explicit ChargePayment(const json& params)
      : decline_suffix_(params.is_object() ? params.value("decline_suffix", "0000") : "0000") {
    if (decline_suffix_.empty()) throw sdk::ParamError("decline_suffix", "must not be empty");
  }

  sdk::Status process(json& state, sdk::Context& ctx) const override {
    const std::string card = state.value("/customer/card"_json_pointer, "");
    const bool approved =
        card.size() < decline_suffix_.size() ||
        card.compare(card.size() - decline_suffix_.size(), decline_suffix_.size(), decline_suffix_) != 0;
    const std::string order = state.value("orderId", "unknown");
    state["payment"] = {{"status", approved ? "approved" : "declined"},
                        {"amount", state.value("total", 0.0)},
                        {"transactionId", approved ? json("txn-" + order) : json(nullptr)}};
    ctx.emit("payment:charged", {{"orderId", order}, {"approved", approved}});
    return sdk::ok();
  }

 private:
  std::string decline_suffix_;
};

/// Reserves every line's quantity into .inventory.reserved.
sdk::Status reserve_stock(json& state, sdk::Context&) {
  json reserved = json::array();
  for (const json& line : state.value("lines", json::array())) {
    reserved.push_back({{"sku", line.value("sku", "")}, {"quantity", line.value("quantity", 0)}});
  }
  state["inventory"] = {{"reserved", reserved}};
  return sdk::ok();
}

}  // namespace

AM2Z_PLUGIN("order",
            sdk::processor("validate-order",
                           "Rejects orders without lines or with a non-positive quantity or price; "
                           "sets .total",
                           R"({"type":"object","properties":{},"additionalProperties":false})", validate_order),
            sdk::processor_class<ChargePayment>(
                "charge-payment",
                "Charges .total to .customer.card into .payment; a card ending in decline_suffix is declined",
                R"({"type":"object","properties":{"decline_suffix":{"type":"string","minLength":1,
                    "description":"card number ending that is declined; default 0000"}},"additionalProperties":false})"),
            sdk::processor("reserve-stock", "Reserves every line's quantity into .inventory.reserved",
                           R"({"type":"object","properties":{},"additionalProperties":false})", reserve_stock))
