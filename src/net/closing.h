/* closing: hanging up on a peer after a last reply, without losing it.
 *
 * A connection that failed its handshake gets one reply (a SOCKS error
 * code, say) and is closed. Closing at once while the peer still sends
 * would make the kernel answer with RST, and a RST can destroy the reply
 * before the peer's application has read it. So: flush, send FIN, keep
 * reading and dropping until the peer's EOF or a short linger, then free.
 *
 * The connections in this state belong to nobody else, so this module
 * keeps them, each with a fixed deadline (12 s at most, however the peer
 * behaves), at most 256 at once, and frees what is left at shutdown. */
#ifndef PTD_NET_CLOSING_H
#define PTD_NET_CLOSING_H

struct bufferevent;

/* Takes bev over (its callbacks are replaced) and frees it once its
 * output has reached the socket and the peer has closed its side, or
 * after a timeout. */
void net_close_when_flushed(struct bufferevent *bev);

/* Frees every connection still closing: for shutdown. */
void net_closing_free_all(void);

#endif
