/*
 * bboauth: log a user into Bitbucket with OAuth 2.0, keep the tokens fresh
 * and call the Bitbucket REST API with them.
 * SPDX-License-Identifier: MIT
 *
 * The umbrella header: include this one. Each object's header documents
 * its functions, their error codes and thread rules.
 */
#ifndef BBOAUTH_H
#define BBOAUTH_H

#include "bboauth/common.h"
#include "bboauth/version.h"
#include "bboauth/errors.h"
#include "bboauth/scopes.h"
#include "bboauth/consumer.h"
#include "bboauth/authorization.h"
#include "bboauth/token.h"
#include "bboauth/http.h"
#include "bboauth/grant.h"
#include "bboauth/transport.h"
#include "bboauth/client.h"
#include "bboauth/jwt.h"
#include "bboauth/loopback.h"
#include "bboauth/store.h"
#include "bboauth/session.h"

#endif
