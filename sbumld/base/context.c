/* SPDX-License-Identifier: MIT */
#include "context.h"

struct daemon_config	 daemon_config;
struct event_base	*daemon_base;
