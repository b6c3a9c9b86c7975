/*  egress: which addresses a tenant's channel may make this server connect
    to (actors/notify/egress.h): public addresses of both families are
    allowed; loopback, private, CGNAT, link-local (the metadata service),
    unique-local, multicast, reserved and documentation ranges are not, nor
    the IPv6 forms that carry such an IPv4 address. The refusal of every
    spelling of an internal address by a real send is test_webhook.c's.
*/
#include "../actors/notify/egress.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>

Test (egress, address_ranges_are_classified)
{
    struct { const char *address; bool public_; } cases [] = {
        { "93.184.216.34", true }, { "8.8.8.8", true }, { "100.63.255.255", true },
        { "100.128.0.1", true }, { "172.32.0.1", true }, { "2606:4700::1111", true },
        { "127.0.0.1", false }, { "10.0.0.1", false }, { "172.31.255.255", false },
        { "192.168.0.1", false }, { "100.64.0.1", false }, { "100.127.255.255", false },
        { "169.254.169.254", false }, { "0.0.0.0", false }, { "255.255.255.255", false },
        { "224.0.0.251", false }, { "::1", false }, { "::", false }, { "fe80::1", false },
        { "fc00::1", false }, { "fd12:3456::1", false }, { "ff02::1", false },
        { "::ffff:10.0.0.1", false }, { "::ffff:8.8.8.8", true }, { "::10.0.0.1", false },
        { "64:ff9b::7f00:1", false }, { "64:ff9b::808:808", true }, { "2002:a00:1::", false },
        { "2001:db8::1", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        struct sockaddr_storage address = { 0 };
        if (strchr (cases [i].address, ':')) {
            struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &address;
            in6->sin6_family = AF_INET6;
            cr_assert_eq (inet_pton (AF_INET6, cases [i].address, &in6->sin6_addr), 1);
        }
        else {
            struct sockaddr_in *in = (struct sockaddr_in *) &address;
            in->sin_family = AF_INET;
            cr_assert_eq (inet_pton (AF_INET, cases [i].address, &in->sin_addr), 1);
        }
        cr_assert_eq (egress_address_public ((struct sockaddr *) &address), cases [i].public_,
                      "%s", cases [i].address);
    }
}
