// The ONNX protobuf builder of export_onnx (docs/export.md): walks the graph in the order of the export plan
// (onnx_plan.cpp) and emits nodes and initializers — BatchNorm folded into its conv in double precision, Cast nodes
// around an fp16 body, per-tensor activation and per-channel weight Q/DQ pairs for int8. Debian's libonnx is built
// with ONNX_NAMESPACE=onnx and ONNX_ML=1 (the imported target's compile definitions) and Debian's LibTorch links the
// very same shared libonnx/libprotobuf, so the ONNX schemas and protobuf descriptors exist once in the process; see
// runtime/CMakeLists.txt.
#include <onnx/onnx_pb.h>
#include <torch/nn/module.h>

#include <ATen/ATen.h>
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "kiln/common/error.h"
#include "kiln/networks/graph.h"
#include "kiln/export/export.h"
#include "onnx_export_detail.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "ONNX raw_data is little-endian; kiln writes tensors' memory as is"
#endif

namespace kiln::runtime::detail {
namespace {

using networks::Graph;
using networks::kGraphInput;
using networks::Node;
using networks::Op;

// ---- Parameters of the live module. ----

class Params {
 public:
  explicit Params(const torch::nn::Module& m) {
    for (const auto& kv : m.named_parameters(true))
      if (kv.value().defined()) map_.emplace(kv.key(), kv.value());
    for (const auto& kv : m.named_buffers(true))
      if (kv.value().defined()) map_.emplace(kv.key(), kv.value());
  }
  // Parameter or buffer `module.leaf` as a double CPU tensor; throws naming the node when absent.
  at::Tensor get(const Node& n, const std::string& leaf) const {
    at::Tensor t = find(n, leaf);
    if (!t.defined())
      throw Error("export: " + node_label(n) + ": the module has no parameter or buffer '" + key(n, leaf) + "'");
    return t;
  }
  at::Tensor find(const Node& n, const std::string& leaf) const {
    auto it = map_.find(key(n, leaf));
    if (it == map_.end()) return {};
    return it->second.detach().to(at::kCPU, at::kDouble).contiguous();
  }
  static std::string key(const Node& n, const std::string& leaf) {
    return n.module.empty() ? leaf : n.module + "." + leaf;
  }

 private:
  std::unordered_map<std::string, at::Tensor> map_;
};

std::string shape_str(at::IntArrayRef s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}

void expect_shape(const Node& n, const std::string& what, const at::Tensor& t, at::IntArrayRef want) {
  if (t.sizes() != want)
    throw Error("export: " + node_label(n) + ": " + what + " has shape " + shape_str(t.sizes()) + ", expected " +
                shape_str(want));
}

void check_bn(const Node& n, int64_t c, const at::Tensor& mean, const at::Tensor& var, const at::Tensor& gamma,
              const at::Tensor& beta) {
  expect_shape(n, Params::key(n, "running_mean"), mean, {c});
  expect_shape(n, Params::key(n, "running_var"), var, {c});
  expect_shape(n, Params::key(n, "weight"), gamma, {c});
  expect_shape(n, Params::key(n, "bias"), beta, {c});
  if ((var < 0).any().item<bool>()) throw Error("export: " + node_label(n) + ": running_var has negative entries");
}

// Activation shape without the batch dim: [C, H, W], or [F] after Flatten/Linear.
struct Shape {
  int64_t c = 0, h = 1, w = 1;
  bool flat = false;
  std::string str() const {
    return flat ? "[" + std::to_string(c) + "]"
                : "[" + std::to_string(c) + ", " + std::to_string(h) + ", " + std::to_string(w) + "]";
  }
};

// ---- The ONNX model builder. ----

class Builder {
 public:
  Builder(const Graph& g, const torch::nn::Module& m, const ExportOptions& opt)
      : g_(g), params_(m), opt_(opt), plan_(make_plan(g, opt)) {
    graph_ = model_.mutable_graph();
    compute_ = opt.data_type == DataType::kFp16 ? onnx::TensorProto::FLOAT16 : onnx::TensorProto::FLOAT;
    for (const Node& n : g.nodes) reserve_tensor(n.name);
    reserve_tensor(opt.input_name);
    for (const std::string& out : plan_.output_names) reserve_tensor(out);
  }

  onnx::ModelProto build(const std::string& name, const std::string& doc,
                         const std::map<std::string, std::string>& metadata) {
    model_.set_ir_version(onnx::IR_VERSION);
    model_.set_producer_name(opt_.producer_name);
    model_.set_producer_version(KILN_VERSION);
    model_.set_doc_string(doc);
    model_.set_model_version(1);
    auto* opset = model_.add_opset_import();
    opset->set_domain("");
    opset->set_version(opt_.opset);
    for (const auto& [k, v] : metadata) {
      auto* prop = model_.add_metadata_props();
      prop->set_key(k);
      prop->set_value(v);
    }
    graph_->set_name(name);

    std::vector<Shape> shapes(g_.nodes.size());
    const Shape in_shape{g_.in_channels, g_.height, g_.width, false};
    add_io(graph_->add_input(), opt_.input_name, {g_.in_channels, g_.height, g_.width});

    std::string net_input = opt_.input_name;
    if (compute_ == onnx::TensorProto::FLOAT16) {
      net_input = opt_.input_name + "/fp16";
      add_cast(opt_.input_name, net_input, onnx::TensorProto::FLOAT16);
    }
    for (int i = 0; i < static_cast<int>(g_.nodes.size()); ++i) {
      if (!plan_.live[i]) continue;  // no model output needs it
      const Node& n = g_.nodes[i];
      std::vector<std::string> ins;
      std::vector<Shape> in_shapes;
      for (int in : n.inputs) {
        ins.push_back(in == kGraphInput ? net_input : producer_tensor(plan_, in, opt_));
        in_shapes.push_back(in == kGraphInput ? in_shape : shapes[in]);
      }
      if (plan_.folded[i]) {  // emitted with its conv
        shapes[i] = in_shapes[0];
        continue;
      }
      if (opt_.data_type == DataType::kInt8 && quantized_consumer(n, opt_))
        for (auto& t : ins) t = quantize_activation(t, n);
      shapes[i] = emit(i, ins, in_shapes);
    }
    if (plan_.multi_output) {
      add_outputs(shapes);
      return std::move(model_);
    }
    const Shape& out = shapes[g_.output];
    if (!out.flat)
      throw Error("export: the graph output (" + node_label(g_.nodes[g_.output]) + ") has shape " + out.str() +
                  "; expected [classes] (end the graph with Flatten/Linear)");
    if (compute_ == onnx::TensorProto::FLOAT16)
      add_cast(plan_.tensor[g_.output], opt_.output_name, onnx::TensorProto::FLOAT);
    add_io(graph_->add_output(), opt_.output_name, {out.c});
    return std::move(model_);
  }

 private:
  // Several named outputs (Graph::outputs), in order, each [batch, C, h, w] (or [batch, F]); fp16: one Cast each.
  void add_outputs(const std::vector<Shape>& shapes) {
    for (size_t k = 0; k < plan_.output_nodes.size(); ++k) {
      const int node = plan_.output_nodes[k];
      const std::string& name = plan_.output_names[k];
      if (compute_ == onnx::TensorProto::FLOAT16) add_cast(plan_.tensor[node], name, onnx::TensorProto::FLOAT);
      const Shape& s = shapes[node];
      add_io(graph_->add_output(), name, s.flat ? std::vector<int64_t>{s.c} : std::vector<int64_t>{s.c, s.h, s.w});
    }
  }

  bool is_model_output(const std::string& name) const {
    return std::find(plan_.output_names.begin(), plan_.output_names.end(), name) != plan_.output_names.end();
  }

  void reserve_tensor(const std::string& name) { names_.insert(name); }
  // Registers a new tensor/initializer name of our own (Q/DQ, casts, constants); a clash with a graph name is a bug.
  const std::string& fresh(const std::string& name) {
    if (!names_.insert(name).second) throw Error("export: tensor name '" + name + "' is used twice");
    return name;
  }

  void add_io(onnx::ValueInfoProto* vi, const std::string& name, const std::vector<int64_t>& dims) {
    vi->set_name(name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    auto* shape = tt->mutable_shape();
    shape->add_dim()->set_dim_param("batch");
    for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
  }

  onnx::NodeProto* add_node(const std::string& op, const std::string& name, const std::vector<std::string>& ins,
                            const std::string& out) {
    auto* node = graph_->add_node();
    node->set_op_type(op);
    node->set_name(name);
    for (const auto& in : ins) node->add_input(in);
    node->add_output(out);
    return node;
  }
  static void attr_int(onnx::NodeProto* node, const std::string& name, int64_t v) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr_ints(onnx::NodeProto* node, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  static void attr_float(onnx::NodeProto* node, const std::string& name, float v) {
    auto* a = node->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }

  void add_cast(const std::string& in, const std::string& out, int to) {
    if (!is_model_output(out)) fresh(out);
    attr_int(add_node("Cast", fresh(out + "/Cast"), {in}, out), "to", to);
  }

  // Initializer from a double tensor, stored as `type` (FLOAT, FLOAT16 or INT8).
  const std::string& add_initializer(const std::string& name, const at::Tensor& value, int type) {
    at::ScalarType st = type == onnx::TensorProto::FLOAT16 ? at::kHalf
                        : type == onnx::TensorProto::INT8  ? at::kChar
                                                           : at::kFloat;
    at::Tensor t = value.to(st).contiguous();
    if (st != at::kChar && !at::isfinite(t.to(at::kFloat)).all().item<bool>())
      throw Error("export: initializer '" + name + "' has values that are not finite in " +
                  (st == at::kHalf ? "float16 (|x| > 65504?)" : "float32"));
    auto* init = graph_->add_initializer();
    init->set_name(fresh(name));
    init->set_data_type(type);
    for (int64_t d : t.sizes()) init->add_dims(d);
    init->set_raw_data(t.data_ptr(), t.nbytes());
    return init->name();
  }

  // Per-tensor Q/DQ on an activation consumed by `consumer` (shared by all quantized consumers of the tensor).
  std::string quantize_activation(const std::string& tensor, const Node& consumer) {
    auto done = dq_.find(tensor);
    if (done != dq_.end()) return done->second;
    // The fp32 graph input is called opt.input_name; every other tensor's scale is keyed by its own name.
    auto it = opt_.activation_scales.find(tensor);
    if (it == opt_.activation_scales.end())
      throw Error("export: int8 needs an activation scale for tensor '" + tensor + "' (input of " +
                  node_label(consumer) + "), and activation_scales has none");
    float scale = it->second;
    if (!std::isfinite(scale) || scale < 0)
      throw Error("export: int8 activation scale of tensor '" + tensor + "' is " + std::to_string(scale));
    if (scale < kMinScale) scale = kMinScale;
    const std::string s =
        add_initializer(tensor + "/scale", at::scalar_tensor(scale, at::kDouble), onnx::TensorProto::FLOAT);
    const std::string z =
        add_initializer(tensor + "/zero_point", at::scalar_tensor(0.0, at::kDouble), onnx::TensorProto::INT8);
    const std::string q = fresh(tensor + "/quantized"), dq = fresh(tensor + "/dequantized");
    add_node("QuantizeLinear", tensor + "/QuantizeLinear", {tensor, s, z}, q);
    add_node("DequantizeLinear", tensor + "/DequantizeLinear", {q, s, z}, dq);
    return dq_[tensor] = dq;
  }

  // Weight initializer; in int8 followed by per-output-channel symmetric Q/DQ (axis 0). Returns the tensor to use.
  std::string add_weight(const std::string& name, const at::Tensor& w) {
    if (opt_.data_type != DataType::kInt8) return add_initializer(name, w, compute_);
    const std::string& wname = add_initializer(name, w, onnx::TensorProto::FLOAT);
    // Scales from the float32 values actually written, so that max|w| maps exactly to ±127.
    at::Tensor amax = w.to(at::kFloat).to(at::kDouble).abs().reshape({w.size(0), -1}).amax(1);
    at::Tensor scale = (amax / 127.0).clamp_min(kMinScale);
    const std::string s = add_initializer(name + "/scale", scale, onnx::TensorProto::FLOAT);
    const std::string z =
        add_initializer(name + "/zero_point", at::zeros({w.size(0)}, at::kDouble), onnx::TensorProto::INT8);
    const std::string q = fresh(name + "/quantized"), dq = fresh(name + "/dequantized");
    attr_int(add_node("QuantizeLinear", name + "/QuantizeLinear", {wname, s, z}, q), "axis", 0);
    attr_int(add_node("DequantizeLinear", name + "/DequantizeLinear", {q, s, z}, dq), "axis", 0);
    return dq;
  }

  std::string add_param(const std::string& name, const at::Tensor& v) { return add_initializer(name, v, compute_); }

  const std::pair<std::string, std::string>& clip_bounds() {
    if (clip_.first.empty())
      clip_ = {add_param("clip/min", at::scalar_tensor(0.0, at::kDouble)),
               add_param("clip/max", at::scalar_tensor(6.0, at::kDouble))};
    return clip_;
  }

  Shape emit(int i, const std::vector<std::string>& ins, const std::vector<Shape>& in_shapes) {
    const Node& n = g_.nodes[i];
    const std::string& out = plan_.tensor[i];
    const Shape& x = in_shapes[0];
    auto need_spatial = [&]() {
      if (x.flat) throw Error("export: " + node_label(n) + " needs an [N, C, H, W] input, got [N] + " + x.str());
    };
    switch (n.op) {
      case Op::Conv:
        return emit_conv(i, ins[0], x);
      case Op::BatchNorm: {
        need_spatial();
        at::Tensor mean = params_.get(n, "running_mean"), var = params_.get(n, "running_var");
        at::Tensor gamma = params_.find(n, "weight"), beta = params_.find(n, "bias");
        if (!gamma.defined()) gamma = at::ones({x.c}, at::kDouble);
        if (!beta.defined()) beta = at::zeros({x.c}, at::kDouble);
        check_bn(n, x.c, mean, var, gamma, beta);
        auto* node =
            add_node("BatchNormalization", n.name,
                     {ins[0], add_param(Params::key(n, "weight"), gamma), add_param(Params::key(n, "bias"), beta),
                      add_param(Params::key(n, "running_mean"), mean), add_param(Params::key(n, "running_var"), var)},
                     out);
        attr_float(node, "epsilon", static_cast<float>(n.eps));
        return x;
      }
      case Op::Relu:
        add_node("Relu", n.name, {ins[0]}, out);
        return x;
      case Op::Relu6: {
        const auto& [lo, hi] = clip_bounds();
        add_node("Clip", n.name, {ins[0], lo, hi}, out);
        return x;
      }
      case Op::Add: {
        const Shape& y = in_shapes[1];
        if (x.flat != y.flat || x.c != y.c || x.h != y.h || x.w != y.w)
          throw Error("export: " + node_label(n) + " adds tensors of shapes " + x.str() + " and " + y.str());
        add_node("Add", n.name, {ins[0], ins[1]}, out);
        return x;
      }
      case Op::MaxPool: {
        need_spatial();
        if (n.kernel < 1 || n.stride < 1 || n.padding < 0 || 2 * n.padding > n.kernel)
          throw Error("export: " + node_label(n) + " has kernel " + std::to_string(n.kernel) + ", stride " +
                      std::to_string(n.stride) + ", padding " + std::to_string(n.padding));
        auto* node = add_node("MaxPool", n.name, {ins[0]}, out);
        attr_ints(node, "kernel_shape", {n.kernel, n.kernel});
        attr_ints(node, "strides", {n.stride, n.stride});
        attr_ints(node, "pads", {n.padding, n.padding, n.padding, n.padding});
        return spatial(n, x, x.c);
      }
      case Op::GlobalAvgPool:
        need_spatial();
        add_node("GlobalAveragePool", n.name, {ins[0]}, out);
        return Shape{x.c, 1, 1, false};
      case Op::Flatten:
        need_spatial();
        attr_int(add_node("Flatten", n.name, {ins[0]}, out), "axis", 1);
        return Shape{x.c * x.h * x.w, 1, 1, true};
      case Op::Linear: {
        if (!x.flat)
          throw Error("export: " + node_label(n) + " needs a flat input, got " + x.str() + " (add a Flatten)");
        at::Tensor w = params_.get(n, "weight"), b = params_.find(n, "bias");
        if (w.dim() != 2 || w.size(1) != x.c || (n.out_channels > 0 && w.size(0) != n.out_channels))
          throw Error("export: " + node_label(n) + ": " + Params::key(n, "weight") + " has shape " +
                      shape_str(w.sizes()) + " for " + std::to_string(x.c) + " input features" +
                      (n.out_channels > 0 ? " and " + std::to_string(n.out_channels) + " outputs" : ""));
        std::vector<std::string> args{ins[0], add_weight(Params::key(n, "weight"), w)};
        if (b.defined()) {
          expect_shape(n, Params::key(n, "bias"), b, {w.size(0)});
          args.push_back(add_param(Params::key(n, "bias"), b));
        }
        attr_int(add_node("Gemm", n.name, args, out), "transB", 1);
        return Shape{w.size(0), 1, 1, true};
      }
      case Op::Sigmoid:
        add_node("Sigmoid", n.name, {ins[0]}, out);
        return x;
      case Op::Concat: {  // along the channels; DetectNet_v2's Concat of its heads is not emitted (make_plan)
        Shape y = x;
        y.c = 0;
        for (const Shape& s : in_shapes) {
          if (s.flat != x.flat || s.h != x.h || s.w != x.w)
            throw Error("export: " + node_label(n) + " joins tensors of shapes " + x.str() + " and " + s.str());
          y.c += s.c;
        }
        attr_int(add_node("Concat", n.name, ins, out), "axis", 1);
        return y;
      }
    }
    throw Error("export: " + node_label(n) + " has an op the exporter does not know");
  }

  Shape spatial(const Node& n, const Shape& x, int64_t c) const {
    const int64_t h = (x.h + 2 * n.padding - n.kernel) / n.stride + 1,
                  w = (x.w + 2 * n.padding - n.kernel) / n.stride + 1;
    if (x.h + 2 * n.padding < n.kernel || x.w + 2 * n.padding < n.kernel || h < 1 || w < 1)
      throw Error("export: " + node_label(n) + ": kernel " + std::to_string(n.kernel) + " does not fit its input " +
                  x.str());
    return Shape{c, h, w, false};
  }

  Shape emit_conv(int i, const std::string& in, const Shape& x) {
    const Node& n = g_.nodes[i];
    if (x.flat) throw Error("export: " + node_label(n) + " needs an [N, C, H, W] input, got [N] + " + x.str());
    if (n.kernel < 1 || n.stride < 1 || n.padding < 0 || n.groups < 1 || x.c % n.groups != 0)
      throw Error("export: " + node_label(n) + " has kernel " + std::to_string(n.kernel) + ", stride " +
                  std::to_string(n.stride) + ", padding " + std::to_string(n.padding) + ", groups " +
                  std::to_string(n.groups) + " for " + std::to_string(x.c) + " input channels");
    at::Tensor w = params_.get(n, "weight"), b = params_.find(n, "bias");
    const int64_t oc = w.dim() == 4 ? w.size(0) : -1;
    if (w.dim() != 4 || (n.out_channels > 0 && oc != n.out_channels) || oc % n.groups != 0)
      throw Error("export: " + node_label(n) + ": " + Params::key(n, "weight") + " has shape " + shape_str(w.sizes()) +
                  (n.out_channels > 0 ? ", expected " + std::to_string(n.out_channels) + " output channels" : ""));
    expect_shape(n, Params::key(n, "weight"), w, {oc, x.c / n.groups, n.kernel, n.kernel});
    if (b.defined()) expect_shape(n, Params::key(n, "bias"), b, {oc});

    std::string out = plan_.tensor[i];
    const int bn_index = plan_.folded_bn[i];
    if (bn_index >= 0) {
      // y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta  ⇒  W' = W·s, b' = (b - mean)·s + beta (in double).
      const Node& bn = g_.nodes[bn_index];
      at::Tensor mean = params_.get(bn, "running_mean"), var = params_.get(bn, "running_var");
      at::Tensor gamma = params_.find(bn, "weight"), beta = params_.find(bn, "bias");
      if (!gamma.defined()) gamma = at::ones({oc}, at::kDouble);
      if (!beta.defined()) beta = at::zeros({oc}, at::kDouble);
      check_bn(bn, oc, mean, var, gamma, beta);
      const at::Tensor s = gamma / (var + bn.eps).sqrt();
      w = w * s.view({-1, 1, 1, 1});
      b = ((b.defined() ? b : at::zeros({oc}, at::kDouble)) - mean) * s + beta;
      out = plan_.tensor[bn_index];  // the tensor the calibrator observed (after BN)
    }
    std::vector<std::string> args{in, add_weight(Params::key(n, "weight"), w)};
    if (b.defined()) args.push_back(add_param(Params::key(n, "bias"), b));  // also the folded bias
    auto* node = add_node("Conv", n.name, args, out);
    attr_ints(node, "kernel_shape", {n.kernel, n.kernel});
    attr_ints(node, "strides", {n.stride, n.stride});
    attr_ints(node, "pads", {n.padding, n.padding, n.padding, n.padding});
    attr_ints(node, "dilations", {1, 1});
    attr_int(node, "group", n.groups);
    return spatial(n, x, oc);
  }

  const Graph& g_;
  Params params_;
  const ExportOptions& opt_;
  Plan plan_;
  onnx::ModelProto model_;
  onnx::GraphProto* graph_ = nullptr;
  int compute_ = onnx::TensorProto::FLOAT;
  std::set<std::string> names_;
  std::map<std::string, std::string> dq_;  // activation tensor → its dequantized tensor
  std::pair<std::string, std::string> clip_;
};

}  // namespace

onnx::ModelProto build_onnx_model(const Graph& graph, const torch::nn::Module& module, const ExportOptions& opt,
                                  const std::string& graph_name, const std::string& doc,
                                  const std::map<std::string, std::string>& metadata) {
  return Builder(graph, module, opt).build(graph_name, doc, metadata);
}

}  // namespace kiln::runtime::detail
