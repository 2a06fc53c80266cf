// The LibTorch headers every torch-using target needs; compiled once as a precompiled header.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn.h>
#include <torch/optim.h>
#include <torch/serialize.h>
#include <torch/types.h>
