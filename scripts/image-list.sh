# shellcheck shell=bash
# The one list of Storefront's images and binaries, sourced by scripts/images.sh (registry path)
# and scripts/offline-images.sh (built here); the Makefile reads RELEASE_PACKAGES from it.
#
#   PACKAGE[image]      the cargo package (and binary) in that image
#   DESCRIPTION[image]  its OCI description label
#   SERVICES            every service image, in build order
#   RELEASE_PACKAGES    what one release build compiles, whichever images are asked for: cargo
#                       unifies dependency features over the packages of one build, so another
#                       set would rebuild shared crates every time

declare -A PACKAGE=(
  [operator]=storefront-operator [users]=storefront-users [catalog]=storefront-catalog
  [cart]=storefront-cart [inventory]=storefront-inventory [payments]=storefront-payments
  [orders]=storefront-orders [notifications]=storefront-notifications
  [gateway]=storefront-gateway [web]=storefront-web [loadgen]=storefront-loadgen
)
declare -A DESCRIPTION=(
  [operator]="Storefront operator: runs the platform from one EcommercePlatform resource"
  [users]="Storefront users service: accounts, login, JWT"
  [catalog]="Storefront catalog service: products, search"
  [cart]="Storefront cart service: one cart per user"
  [inventory]="Storefront inventory service: stock and reservations"
  [payments]="Storefront payments service: mock card gateway"
  [orders]="Storefront orders service: checkout saga"
  [notifications]="Storefront notifications service: order events to customer notifications"
  [gateway]="Storefront gateway: routing, auth, rate limits, caching"
  [web]="Storefront web: the store front"
  [loadgen]="Storefront load generator"
)
SERVICES=(operator users catalog cart inventory payments orders notifications gateway web loadgen)
RELEASE_PACKAGES=(storefront-local storefront-users storefront-catalog storefront-cart
  storefront-inventory storefront-payments storefront-orders storefront-notifications
  storefront-gateway storefront-web storefront-loadgen storefront-operator storefront-probe
  storefront-compose)
