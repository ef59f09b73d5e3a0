// The lazyllm public API in one include.
#pragma once

#include "lazyllm/chat.h"
#include "lazyllm/engine.h"
#include "lazyllm/generate.h"
#include "lazyllm/model.h"
#include "lazyllm/pruning.h"
#include "lazyllm/quantize.h"
#include "lazyllm/sampling.h"
#include "lazyllm/scheduler.h"
#include "lazyllm/session.h"
#include "lazyllm/status.h"
#include "lazyllm/system.h"
#include "lazyllm/tokenizer.h"
