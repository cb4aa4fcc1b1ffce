#include "flows/graph_export.hpp"

#include <vector>

#include "flows/execution_plan.hpp"

namespace am2z {

namespace {

enum class Shape { step, fork, join, decision, batch, call, start, end };

struct Vertex {
  std::string id;
  std::string label;  ///< lines separated by '\n'
  Shape shape;
};

struct Edge {
  std::string from;
  std::string to;
  std::string label;
  bool dashed = false;
};

/// Vertices and edges of the plan; each node becomes a piece with one entry and one exit.
class GraphBuilder {
 public:
  struct Piece {
    std::string entry;
    std::string exit;
  };

  Piece add(const Json& node) {
    const std::string kind = node["kind"];
    const std::string policy = policy_summary(node);
    const std::string suffix = policy.empty() ? "" : "\n" + policy;
    if (kind == "processor") {
      const std::string id =
          vertex(node["name"].get<std::string>() + "\n" + node["type"].get<std::string>() + suffix, Shape::step);
      return {id, id};
    }
    if (kind == "call") {
      const std::string id = vertex("call " + node["flow"].get<std::string>() + suffix, Shape::call);
      if (node.contains("target")) {
        Piece callee = add(node["target"]);
        edge(id, callee.entry, node.contains("input") ? "input" : "state", true);
        edge(callee.exit, id, node.contains("output") ? "output to " + node["output"].get<std::string>() : "output",
             true);
      }
      return {id, id};
    }
    if (kind == "chain") {
      std::vector<Piece> steps;
      for (const auto& step : node["steps"]) steps.push_back(add(step));
      for (std::size_t i = 1; i < steps.size(); ++i) edge(steps[i - 1].exit, steps[i].entry);
      return {steps.front().entry, steps.back().exit};
    }
    if (kind == "parallel") {
      const std::string fork = vertex("parallel " + node["name"].get<std::string>() + suffix, Shape::fork);
      const std::string join = vertex("merge " + node["merge"].get<std::string>(), Shape::join);
      for (const auto& branch : node["branches"]) {
        Piece p = add(branch);
        edge(fork, p.entry);
        edge(p.exit, join);
      }
      return {fork, join};
    }
    if (kind == "route") {
      const std::string decide = vertex("route " + node["selector"].get<std::string>() + suffix, Shape::decision);
      const std::string join = vertex("", Shape::join);
      for (const auto& c : node["cases"]) {
        Piece p = add(c["node"]);
        edge(decide, p.entry, c["value"].get<std::string>());
        edge(p.exit, join);
      }
      if (node.contains("default")) {
        Piece p = add(node["default"]);
        edge(decide, p.entry, "default", true);
        edge(p.exit, join);
      } else {
        edge(decide, join, "no match: unchanged", true);
      }
      return {decide, join};
    }
    // batch
    const std::string head = vertex(
        "batch " + node["name"].get<std::string>() + "\nover " + node["items"].get<std::string>() + ", " +
            std::to_string(node["concurrency"].get<int>()) + " at once, " + node["mode"].get<std::string>() + suffix,
        Shape::batch);
    const std::string collect = vertex("results to " + node["output"].get<std::string>(), Shape::batch);
    Piece target = add(node["target"]);
    edge(head, target.entry, "each item");
    edge(target.exit, collect);
    return {head, collect};
  }

  std::string vertex(std::string label, Shape shape) {
    vertices_.push_back(Vertex{"n" + std::to_string(vertices_.size()), std::move(label), shape});
    return vertices_.back().id;
  }
  void edge(std::string from, std::string to, std::string label = "", bool dashed = false) {
    edges_.push_back(Edge{std::move(from), std::move(to), std::move(label), dashed});
  }

  std::vector<Vertex> vertices_;
  std::vector<Edge> edges_;
};

std::string escape(const std::string& text, bool dot) {
  std::string out;
  for (char c : text) {
    if (c == '\n')
      out += dot ? "\\n" : "<br/>";
    else if (c == '"')
      out += dot ? "\\\"" : "#quot;";
    else if (c == '\\' && dot)
      out += "\\\\";
    else if (!dot && (c == '<' || c == '>'))
      out += c == '<' ? "#lt;" : "#gt;";
    else
      out += c;
  }
  return out;
}

std::string dot_attributes(Shape shape) {
  switch (shape) {
    case Shape::step:
      return "shape=box, style=rounded";
    case Shape::fork:
      return "shape=trapezium";
    case Shape::join:
      return "shape=invtrapezium";
    case Shape::decision:
      return "shape=diamond";
    case Shape::batch:
      return "shape=box3d";
    case Shape::call:
      return "shape=component";
    case Shape::start:
      return "shape=circle, label=\"\", width=0.25, style=filled, fillcolor=black";
    case Shape::end:
      return "shape=doublecircle, label=\"\", width=0.2, style=filled, fillcolor=black";
  }
  return "";
}

std::string to_dot(const std::string& name, const GraphBuilder& g) {
  std::string out = "digraph \"" + escape(name, true) + "\" {\n";
  out +=
      "  rankdir=TB;\n  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=10];\n";
  for (const auto& v : g.vertices_) {
    out += "  " + v.id + " [";
    if (v.shape != Shape::start && v.shape != Shape::end) out += "label=\"" + escape(v.label, true) + "\", ";
    out += dot_attributes(v.shape) + "];\n";
  }
  for (const auto& e : g.edges_) {
    out += "  " + e.from + " -> " + e.to;
    std::string attrs;
    if (!e.label.empty()) attrs += "label=\"" + escape(e.label, true) + "\"";
    if (e.dashed) attrs += std::string(attrs.empty() ? "" : ", ") + "style=dashed";
    if (!attrs.empty()) out += " [" + attrs + "]";
    out += ";\n";
  }
  return out + "}\n";
}

std::string mermaid_vertex(const Vertex& v) {
  const std::string text = "\"" + escape(v.label, false) + "\"";
  switch (v.shape) {
    case Shape::step:
      return v.id + "(" + text + ")";
    case Shape::fork:
      return v.id + "[/" + text + "\\]";
    case Shape::join:
      return v.id + "[\\" + (v.label.empty() ? "\" \"" : text) + "/]";
    case Shape::decision:
      return v.id + "{" + text + "}";
    case Shape::batch:
      return v.id + "[[" + text + "]]";
    case Shape::call:
      return v.id + "[" + text + "]";
    case Shape::start:
    case Shape::end:
      return v.id + "((\" \"))";
  }
  return v.id;
}

std::string to_mermaid(const GraphBuilder& g) {
  std::string out = "flowchart TD\n";
  for (const auto& v : g.vertices_) out += "  " + mermaid_vertex(v) + "\n";
  for (const auto& e : g.edges_) {
    const std::string arrow = e.dashed ? "-.->" : "-->";
    out += "  " + e.from + " " + arrow + (e.label.empty() ? "" : "|\"" + escape(e.label, false) + "\"|") + " " + e.to +
           "\n";
  }
  return out;
}

}  // namespace

bool parse_graph_format(std::string_view text, GraphFormat& out) {
  if (text == "dot") {
    out = GraphFormat::dot;
    return true;
  }
  if (text == "mermaid") {
    out = GraphFormat::mermaid;
    return true;
  }
  return false;
}

std::string export_graph(const Flow& flow, GraphFormat format) {
  const Json plan = execution_plan(flow);
  GraphBuilder g;
  const std::string start = g.vertex("start", Shape::start);
  const std::string end = g.vertex("end", Shape::end);
  if (plan["root"].is_object()) {
    GraphBuilder::Piece root = g.add(plan["root"]);
    g.edge(start, root.entry);
    g.edge(root.exit, end);
  }
  return format == GraphFormat::dot ? to_dot(flow.name, g) : to_mermaid(g);
}

}  // namespace am2z
